"""A Jekyll site's configuration, and the front-matter defaults it gives each post.

`_config.yml` decides how every post reads: its timezone dates them, its permalink shapes their
URLs, its `defaults` fill in front matter by path, and its `exclude` hides files. Read once per
ingest into a `Site`, which the post reader takes for every file.

A plain folder of posts (no `_config.yml` and no `_posts/` inside) is read as the `_posts`
folder of a site with Jekyll's default configuration, so every post's `path` is
``"_posts/" + its path inside the folder``: ids, URLs and defaults scoped to `_posts` then
behave exactly as if the folder were dropped into a real site.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.sources.front_matter import load_yaml
from bot.sources.post_error import PostError
from bot.sources.ruby_text import RUBY_SPLIT, ruby_lower, ruby_str
from bot.sources.site_files import read_site_file, resolved_root

# Jekyll's default markdown_ext list. A site's own `markdown_ext` replaces it; a dated
# file in `_posts` with any other extension is still a post (an .html post stays .html).
MARKDOWN_EXTS = frozenset({".markdown", ".mkdown", ".mkdn", ".mkd", ".md"})

# Jekyll 4.1+ always appends these to the site's own `exclude`.
DEFAULT_EXCLUDES = (
    ".sass-cache",
    ".jekyll-cache",
    "gemfiles",
    "Gemfile",
    "Gemfile.lock",
    "node_modules",
    "vendor/bundle/",
    "vendor/cache/",
    "vendor/gems/",
    "vendor/ruby/",
)

# Where themes and plugins (jekyll-seo-tag's `logo`) put a site's picture, most specific first.
ICON_KEYS = ("logo", "avatar", "favicon")

PERMALINK_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}


@dataclass(frozen=True)
class Site:
    """What `_config.yml` says about reading posts, with Jekyll's defaults filled in."""

    root: Path
    title: str
    url: str
    baseurl: str
    permalink: str  # the template, with a style name already expanded
    timezone: dt.tzinfo
    timezone_name: str
    future: bool
    defaults: tuple[dict, ...]  # the front-matter default sets that can apply to posts
    exclude: tuple[str, ...]
    # True when `root` is itself a folder of posts rather than a site.
    posts_only: bool = field(default=False)
    # Lower-cased extensions (with the dot) Jekyll converts from Markdown to .html.
    markdown_exts: frozenset[str] = field(default=MARKDOWN_EXTS)
    # The blog's picture as `_config.yml` names it (`logo`, else `avatar`, else `favicon`): a URL or
    # a path on the site; what webhook announcements show as the sender's avatar. "" when none.
    icon: str = field(default="")
    # `root` with its symlinks resolved, once per load: what every read is checked to stay inside.
    real_root: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.real_root:
            object.__setattr__(self, "real_root", resolved_root(self.root))


@functools.lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def load_site(root: Path) -> Site:
    """The site at `root`; PostError naming `_config.yml` when it cannot be read or understood.

    `_config.yml` is read through `site_files` like every post: a symlink out of the site, a pipe
    or a file over the size cap is refused. The whole site is refused with it rather than read
    with Jekyll's defaults, since every post's URL and date would then be wrong.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(root)
    root_real = resolved_root(root)
    config_path = root / "_config.yml"
    posts_only = False
    config: Any = {}
    if os.path.lexists(config_path):  # even a dangling symlink or a folder: say what it is
        raw = read_site_file(root_real, config_path, str(config_path))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PostError(str(config_path), f"not valid UTF-8 at byte offset {exc.start}") from None
        config = load_yaml(text, str(config_path), "_config.yml")
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise PostError(str(config_path), f"_config.yml must be a mapping, not {type(config).__name__}")
    elif not (root / "_posts").is_dir():
        posts_only = True

    tz_name = config.get("timezone") or "UTC"
    if not isinstance(tz_name, str):
        raise PostError(str(config_path), f"timezone must be a zone name like Asia/Tokyo, not {tz_name!r}")
    try:
        tz = zone(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PostError(str(config_path), f"unknown timezone {tz_name!r}") from None

    permalink = config.get("permalink")
    collections = config.get("collections")
    if isinstance(collections, dict) and isinstance(collections.get("posts"), dict):
        permalink = collections["posts"].get("permalink") or permalink
    permalink = ruby_str(permalink) if permalink is not None else "date"
    permalink = PERMALINK_STYLES.get(permalink, permalink)

    exclude = config.get("exclude")
    excludes = [str(x) for x in exclude if x is not None] if isinstance(exclude, list) else []
    excludes += [x for x in DEFAULT_EXCLUDES if x not in excludes]

    markdown_ext = config.get("markdown_ext")
    if isinstance(markdown_ext, str):  # Jekyll splits on "," and keeps any spaces
        markdown_exts = frozenset("." + ruby_lower(e) for e in markdown_ext.split(","))
    else:
        markdown_exts = MARKDOWN_EXTS

    return Site(
        root=root,
        title=ruby_str(config.get("title")),
        url=ruby_str(config.get("url")),
        baseurl=ruby_str(config.get("baseurl")),
        permalink=permalink,
        timezone=tz,
        timezone_name=tz_name,
        future=bool(config.get("future", False)),
        defaults=tuple(_post_default_sets(config.get("defaults"))),
        exclude=tuple(excludes),
        posts_only=posts_only,
        markdown_exts=markdown_exts,
        real_root=root_real,
        icon=next((v.strip() for k in ICON_KEYS if isinstance(v := config.get(k), str) and v.strip()), ""),
    )


def _post_default_sets(sets: Any) -> Iterable[dict]:
    if not isinstance(sets, list):
        return
    for entry in sets:
        if not isinstance(entry, dict) or not isinstance(entry.get("values"), dict):
            continue  # Jekyll ignores invalid sets too
        scope = entry.get("scope")
        if isinstance(scope, dict) and "type" in scope:
            kind = {"post": "posts", "page": "pages", "draft": "drafts"}.get(scope["type"], scope["type"])
            if kind != "posts":
                continue
        yield entry


# --------------------------------------------------------------------------- front-matter defaults


def _deep_merge(target: dict, other: dict) -> dict:
    """Jekyll's deep_merge_hashes: nested mappings merge, and a nil never erases a value."""
    merged = dict(target)
    for key, new in other.items():
        if key in merged:
            old = merged[key]
            if new is None:
                continue
            if isinstance(old, dict) and isinstance(new, dict):
                merged[key] = _deep_merge(old, new)
                continue
        merged[key] = new
    return merged


def merge_data(data: dict, other: dict) -> dict:
    """Jekyll's Document#merge_data!: categories are unioned, everything else deep-merged."""
    cats = other.get("categories")
    if cats is not None:
        if isinstance(cats, str):
            cats = RUBY_SPLIT.split(cats)
            cats = [c for c in cats if c]
        if isinstance(data.get("categories"), list):
            new = cats if isinstance(cats, list) else [cats]
            cats = list(data["categories"]) + [c for c in new if c not in data["categories"]]
        other = {**other, "categories": cats}
    return _deep_merge(data, other)


def defaults_for(site: Site, rel_path: str) -> dict:
    """FrontmatterDefaults#all for a post: matching sets, the more specific path winning."""
    merged: dict = {}
    old_scope: dict | None = None
    for entry in site.defaults:
        scope = entry.get("scope")
        scope = scope if isinstance(scope, dict) else {}
        if not _scope_path_applies(scope.get("path"), rel_path, site):
            continue
        if _has_precedence(old_scope, scope):
            merged = _deep_merge(merged, entry["values"])
            old_scope = scope
        else:
            merged = _deep_merge(entry["values"], merged)
    return merged


def _sanitize_scope_path(path: Any) -> str:
    """FrontmatterDefaults#sanitize_path, used only to rank scopes: one leading "/" dropped."""
    if not isinstance(path, str) or not path:
        return ""
    return path[1:] if path.startswith("/") else path


def _scope_path_applies(scope_path: Any, rel_path: str, site: Site) -> bool:
    """FrontmatterDefaults#applies_path?: a plain string prefix of the post's path.

    The scope path is used as written: `/news` is no prefix of `news/...`, so it applies
    to nothing. With a `*` Jekyll Dir.globs the scope path under the site and applies it
    when a path found is a string prefix of the post's path; every folder above a post
    and the post itself exist, so matching the pattern against those prefixes finds the
    same paths (other prefixes are checked on disk).
    """
    if not isinstance(scope_path, str) or not scope_path:
        return True
    if "*" not in scope_path:
        return rel_path.startswith(scope_path)
    pattern, dirs_only = _ruby_glob(scope_path)
    for end in range(1, len(rel_path) + 1):
        at_folder = end < len(rel_path) and rel_path[end] == "/"
        if (dirs_only and not at_folder) or not pattern.fullmatch(rel_path, 0, end):
            continue
        if at_folder or end == len(rel_path) or site_path(site, rel_path[:end]).exists():
            return True
    return False


def jekyll_path(site: Site, disk_rel: str) -> str:
    """Jekyll's site-relative path of a file a source names relative to its folder (a posts folder is `_posts`)."""
    return f"_posts/{disk_rel}" if site.posts_only else disk_rel


def touches_config(names: Iterable[str]) -> bool:
    """Whether `_config.yml` is among the changed files: then every post may read differently."""
    return "_config.yml" in names


def site_path(site: Site, rel_path: str) -> Path:
    """Where the file or folder Jekyll calls `rel_path` lives on disk."""
    if site.posts_only:  # the folder itself stands in for `_posts`
        return site.root / rel_path.removeprefix("_posts").lstrip("/")
    return site.root / rel_path


@functools.lru_cache(maxsize=64)
def _ruby_glob(pattern: str) -> tuple[re.Pattern[str], bool]:
    """Ruby's Dir.glob pattern as a regex: `*` `?` `[]` `{,}` and `**/`, never a hidden name."""
    dirs_only = pattern.endswith("/")
    pattern = pattern.rstrip("/") if dirs_only else pattern
    out: list[str] = []
    i, n, depth = 0, len(pattern), 0
    while i < n:
        ch = pattern[i]
        start = i == 0 or pattern[i - 1] == "/"
        no_dot = "(?!\\.)" if start else ""
        if pattern.startswith("**/", i) and start:
            out.append("(?:(?!\\.)[^/]+/)*")
            i += 3
            continue
        if ch == "*":
            while i + 1 < n and pattern[i + 1] == "*":
                i += 1
            out.append(no_dot + "[^/]*")
        elif ch == "?":
            out.append(no_dot + "[^/]")
        elif ch == "[":
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if close < 0:
                out.append("\\[")
            else:
                body = pattern[i + 1 : close]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
                i = close
        elif ch == "{":
            depth += 1
            out.append("(?:")
        elif ch == "," and depth:
            out.append("|")
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.compile("".join(out) + ")" * depth, re.S), dirs_only
    except re.error:
        return re.compile(re.escape(pattern)), dirs_only


def _has_precedence(old: dict | None, new: dict) -> bool:
    if old is None:
        return True
    new_path = _sanitize_scope_path(new.get("path"))
    old_path = _sanitize_scope_path(old.get("path"))
    if len(new_path) != len(old_path):
        return len(new_path) >= len(old_path)
    if "type" in new:
        return True
    return "type" not in old
