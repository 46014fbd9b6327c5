"""The archive is a silent baseline: nothing the sitemap backfill finds is ever announced.

A blog's first read whose sitemap fails still records the blog as read; the backfill then
finishes at a later poll, and a page it finds may well be dated after that first read (a post
that left the feed's window meanwhile, a page whose date is the server's local time). It is the
blog's past as the backfill found it, not news.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from test_web_cli import BODY, kiji
from web_feeds import Entry, home_page, post_html, wordpress_rss
from web_server import WebServer

from bot.store import open_store

DAY = 86400.0


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """The archive is silent on a SQLite file and on a PostgreSQL database."""
    return both_backends


@pytest_asyncio.fixture
async def db(tmp_path: Path, store_backend: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The store's location, as `kiji --db` takes it: a sqlite:/// file or a fresh PostgreSQL database."""
    from postgres_server import store_location  # a plugin (pytest_plugins): imported once pytest has loaded it

    async with store_location(request, store_backend, tmp_path) as location:
        yield location


def ingest(source: str, db: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return kiji("ingest", "--source", source, "--db", db, *extra, data_dir=tmp_path / "data")


def posts(db: str, tmp_path: Path) -> list[dict[str, object]]:
    result = kiji("posts", "--db", db, "--json", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def article_page(title: str, published: float, paragraphs: list[str]) -> str:
    """A post page as jekyll-seo-tag writes one: JSON-LD BlogPosting, og:type article."""
    when = datetime.fromtimestamp(published, UTC).isoformat()
    posting = {"@context": "https://schema.org", "@type": "BlogPosting", "headline": title, "datePublished": when}
    return (
        f'<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta property="og:type" content="article"><meta property="article:published_time" content="{when}">'
        f'<script type="application/ld+json">{json.dumps(posting, ensure_ascii=False)}</script></head>'
        f"<body><article><h1>{title}</h1>{post_html(paragraphs)}</article></body></html>"
    )


def sitemap(base: str, paths: list[str]) -> str:
    urls = "".join(f"<url><loc>{base}{path}</loc></url>" for path in paths)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


async def first_read_at(db: str) -> float:
    """When the blog was first read: right after its first ingest, its last success is its first."""
    store = await open_store(db)
    try:
        [source] = await store.sources()
    finally:
        await store.close()
    assert source.last_success_at is not None
    return source.last_success_at


async def test_an_archive_page_dated_after_the_first_read_is_never_announced(
    web_server: WebServer, tmp_path: Path, db: str
) -> None:
    store = await open_store(db)
    try:  # a channel that follows every blog, from long before this one was added
        await store.subscribe(1, 100, "text", now=1_000_000_000.0)
    finally:
        await store.close()
    web_server.put("/", home_page("/feed/"))
    feed = wordpress_rss(web_server.base, [Entry("in-feed", "フィードの記事", post_html(BODY))])
    web_server.put("/feed/", feed, "application/rss+xml; charset=UTF-8")
    web_server.fail("/sitemap.xml", 500)
    first = ingest(web_server.url("/"), db, tmp_path, "--json")
    assert first.returncode == 0, first.stderr
    assert any("sitemap" in failure["path"] for failure in json.loads(first.stdout)["failed"])
    read_at = await first_read_at(db)

    # the sitemap answers at the next poll, and lists a page dated a day after the first read
    web_server.put("/archived/", article_page("アーカイブの記事", read_at + DAY, BODY[::-1]))
    web_server.put("/sitemap.xml", sitemap(web_server.base, ["/archived/"]), "application/xml")
    second = ingest(web_server.url("/"), db, tmp_path, "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["added"] == 1
    assert {post["title"] for post in posts(db, tmp_path)} == {"フィードの記事", "アーカイブの記事"}

    store = await open_store(db)
    try:
        assert await store.enqueue_new_posts(max_burst=100, now=read_at + 2 * DAY) == {}
        assert await store.deliveries() == []
    finally:
        await store.close()


async def test_a_new_feed_entry_after_the_backfill_is_still_announced_once(
    web_server: WebServer, tmp_path: Path, db: str
) -> None:
    """The silence is the archive's only: the feed's next entry is news, announced once."""
    store = await open_store(db)
    try:
        await store.subscribe(1, 100, "text", now=1_000_000_000.0)
    finally:
        await store.close()
    entries = [Entry("old", "古い記事", post_html(BODY), 1_700_000_000.0)]
    web_server.put("/", home_page("/feed/"))
    web_server.put("/feed/", wordpress_rss(web_server.base, entries), "application/rss+xml; charset=UTF-8")
    web_server.put("/older/", article_page("もっと古い記事", 1_690_000_000.0, BODY))
    web_server.put("/sitemap.xml", sitemap(web_server.base, ["/old/", "/older/"]), "application/xml")
    web_server.put("/old/", article_page("古い記事", 1_700_000_000.0, BODY))
    assert ingest(web_server.url("/"), db, tmp_path).returncode == 0
    read_at = await first_read_at(db)

    entries.append(Entry("new", "新しい記事", post_html(BODY[::-1]), read_at + DAY))
    web_server.put("/feed/", wordpress_rss(web_server.base, entries), "application/rss+xml; charset=UTF-8")
    assert ingest(web_server.url("/"), db, tmp_path).returncode == 0
    store = await open_store(db)
    try:
        assert await store.enqueue_new_posts(max_burst=100, now=read_at + 2 * DAY) == {1: (1, 0)}
        [delivery] = await store.deliveries()
        post = await store.get_post(delivery.post_id)
        assert post is not None and post.title == "新しい記事"
        assert await store.enqueue_new_posts(max_burst=100, now=read_at + 3 * DAY) == {}
    finally:
        await store.close()
