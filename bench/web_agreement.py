"""Posts read from the web against the same posts read from Markdown: `python -m bench.web_agreement`.

The jekyll fixture site (tests/fixtures/web/jekyll, built by Debian's jekyll from four posts of the
shared corpus) is served on 127.0.0.1 and read by its home page (feed, sitemap, pages: trafilatura's
extraction, then Kiji's cleaning); the four Markdown files are read as a folder blog at the same
address. It reports whether both agree on url, title, date (the instant) and tags, and how many of
each Markdown post's prose sentences the web text keeps, measured as `bench.retention` measures
the cleaner (target >= 95 %), beside the Markdown path's own retention in the same run.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from bench._common import CORPUS, ROOT, Row, base_parser, emit, verdict
from bench.retention import retention

BUILT_POSTS = (
    "2025-08-29-1-connectaiai.md",
    "2025-08-29-4-googleaisoc.md",
    "2025-09-08-1-google-ai検索進化marketとtechの最前線.md",
    "2025-09-14-1-aidefi30.md",
)
TARGET = 0.95


def _markdown_site(folder: Path, url: str) -> Path:
    (folder / "_posts").mkdir(parents=True)
    for name in BUILT_POSTS:
        shutil.copy(CORPUS / "_posts" / name, folder / "_posts" / name)
    config = (CORPUS / "_config.yml").read_text(encoding="utf-8")
    (folder / "_config.yml").write_text(config.replace('url: "https://ai-media.co.jp"', f'url: "{url}"'), "utf-8")
    return folder


async def _read(db: Path, source: object) -> dict[str, tuple[object, ...]]:
    """title → (url, date instant, tags, text) of every post the source gives."""
    from bot.services.blogs import ingest_all
    from bot.store import Store

    store = await Store.open(db)
    try:
        [outcome] = await ingest_all(store, [source])  # type: ignore[list-item]
        if outcome.error:
            raise SystemExit(f"ingest failed: {outcome.error}")
        found = {}
        for post in await store.all_posts():
            text = await store.get_text(post.id) or ""
            found[post.title] = (post.abs_url, post.date_utc, tuple(sorted(post.tags)), text)
        return found
    finally:
        await store.close()


async def measure(workdir: Path) -> tuple[list[Row], dict[str, object]]:
    sys.path.insert(0, str(ROOT / "tests"))
    from web_server import FIXTURES, WebServer  # the tests' loopback server: real HTTP, real files

    from bot.sources.folder import FolderSource
    from bot.sources.specs import WebSpec
    from bot.sources.web import WebSource

    server = WebServer()
    server.start()
    try:
        server.serve_site(FIXTURES / "jekyll")
        site = _markdown_site(workdir / "site", server.base)
        web = await _read(workdir / "web.db", WebSource(WebSpec(server.url("/")), workdir / "data", fetch_rate=1000))
        markdown = await _read(workdir / "md.db", FolderSource(site, name="markdown"))
    finally:
        server.stop()
    files = {
        name: (site / "_posts" / name).read_text(encoding="utf-8")
        for name in BUILT_POSTS  # title → file: the Markdown post of each title
    }
    by_title = {}
    for name, text in files.items():
        title = next(t for t in markdown if t in text)
        by_title[title] = name
    raw: dict[str, object] = {"posts": {}}
    rows: list[Row] = []
    agree = 0
    web_shares, md_shares = [], []
    for title, (url, date, tags, md_text) in sorted(markdown.items()):
        web_post = web.get(title)
        same = web_post is not None and web_post[:3] == (url, date, tags)
        agree += same
        source = files[by_title[title]]
        web_kept = retention(title, source, web_post[3] if web_post else "", title)
        md_kept = retention(title, source, str(md_text), title)
        web_shares.append(web_kept.share)
        md_shares.append(md_kept.share)
        raw["posts"][title] = {  # type: ignore[index]
            "agrees": same,
            "web": list(web_post[:3]) if web_post else None,
            "markdown": [url, date, list(tags)],
            "web_retention": web_kept.share,
            "markdown_retention": md_kept.share,
            "web_lost": list(web_kept.lost),
        }
    rows.append(
        Row(
            "posts agreeing on url, title, date, tags",
            f"{agree}/{len(markdown)}",
            target=f"{len(markdown)}/{len(markdown)}",
            result=verdict(agree == len(markdown) and len(web) == len(markdown)),
        )
    )
    worst = min(web_shares)
    rows.append(
        Row(
            "sentences kept, web text (worst post)",
            f"{worst:.1%}",
            baseline=f"{min(md_shares):.1%} (Markdown, cleaned)",
            ratio=f"{worst / min(md_shares):.3f}" if min(md_shares) else "",
            target=f">= {TARGET:.0%}",
            result=verdict(worst >= TARGET),
        )
    )
    rows.append(
        Row(
            "sentences kept, web text (mean)",
            f"{sum(web_shares) / len(web_shares):.1%}",
            baseline=f"{sum(md_shares) / len(md_shares):.1%}",
        )
    )
    return rows, raw


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--show-lost", action="store_true", help="print the sentences the web text loses")
    args = parser.parse_args(argv)
    if not (CORPUS / "_posts").is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kiji-web-agreement-") as folder:
        rows, raw = asyncio.run(measure(Path(folder)))
    emit("Web posts against their Markdown (jekyll fixture site)", rows, raw, args.json)
    if args.show_lost:
        for title, post in raw["posts"].items():  # type: ignore[union-attr]
            for sentence in post["web_lost"]:
                print(f"{title[:40]}: lost: {sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
