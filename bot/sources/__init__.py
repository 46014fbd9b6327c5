"""Where posts come from, and how a Jekyll site's files become posts.

`base` is what every source answers: what changed since the version last ingested; `folder`
is a folder on this disk; `git` a repository (git itself run by `git_runner`); `factory` turns a
SPEC (`specs`) into its source. Reading a site as Jekyll 4.3 does is split by question:
`post_files` (which files are posts, read safely), `front_matter` (the one front-matter
reader), `site_config` (`_config.yml` and front-matter defaults), `ruby_dates`, `permalinks`,
and `post_reader`, which puts them together for one file. Nothing here imports the store or
Discord.
"""
