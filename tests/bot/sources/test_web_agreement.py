"""Posts read from the web agree with the same posts read from their Markdown.

The jekyll fixture site was built by Debian's jekyll from four posts of ../shared/corpus-sample;
Kiji reads it by its home page (feed, sitemap, pages) and reads the four Markdown files as a
folder blog with the same address. Both must say the same url, title, date and tags.
How much of the text survives is measured in `bench/web_agreement.py`, not asserted here.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
from test_web_cli import ingest, posts
from web_server import FIXTURES, WebServer

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus-sample"
BUILT_POSTS = (
    "2025-08-29-1-connectaiai.md",
    "2025-08-29-4-googleaisoc.md",
    "2025-09-08-1-google-ai検索進化marketとtechの最前線.md",
    "2025-09-14-1-aidefi30.md",
)


def markdown_site(folder: Path, url: str) -> Path:
    """The four posts the fixture was built from, as a Jekyll site at the server's address."""
    (folder / "_posts").mkdir(parents=True)
    for name in BUILT_POSTS:
        shutil.copy(CORPUS / "_posts" / name, folder / "_posts" / name)
    config = (CORPUS / "_config.yml").read_text(encoding="utf-8")
    (folder / "_config.yml").write_text(config.replace('url: "https://ai-media.co.jp"', f'url: "{url}"'), "utf-8")
    return folder


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus-sample (the posts the fixture was built from)")
def test_the_web_and_the_markdown_agree_on_url_title_date_and_tags(web_server: WebServer, tmp_path: Path) -> None:
    web_server.serve_site(FIXTURES / "jekyll")
    site = markdown_site(tmp_path / "site", web_server.base)
    (tmp_path / "web").mkdir()
    (tmp_path / "md").mkdir()
    assert ingest(web_server.url("/"), tmp_path / "web").returncode == 0
    assert ingest(str(site), tmp_path / "md").returncode == 0

    def fields(folder: Path) -> dict[str, tuple[object, ...]]:
        return {
            post["title"]: (post["url"], datetime.fromisoformat(post["date"]).timestamp(), sorted(post["tags"]))
            for post in posts(folder)
        }

    from_markdown = fields(tmp_path / "md")
    assert len(from_markdown) == len(BUILT_POSTS)
    assert fields(tmp_path / "web") == from_markdown
