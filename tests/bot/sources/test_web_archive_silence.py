"""The archive is a silent baseline: nothing the sitemap backfill finds is ever announced.

A blog's first read whose sitemap fails still records the blog as read; the backfill then
finishes at a later poll, and a page it finds may well be dated after that first read (a post
that left the feed's window meanwhile, a page whose date is the server's local time). It is the
blog's past as the backfill found it, not news.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from test_web_cli import BODY, ingest, posts
from web_feeds import Entry, home_page, post_html, wordpress_rss
from web_server import WebServer

from bot.store import Store

DAY = 86400.0


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


def first_success_at(db: Path) -> float:
    with sqlite3.connect(db) as raw:
        return float(raw.execute("SELECT first_success_at FROM sources").fetchone()[0])


async def test_an_archive_page_dated_after_the_first_read_is_never_announced(
    web_server: WebServer, tmp_path: Path
) -> None:
    db = tmp_path / "kiji.db"
    store = await Store.open(db)
    try:  # a channel that follows every blog, from long before this one was added
        await store.subscribe(1, 100, "text", now=1_000_000_000.0)
    finally:
        await store.close()
    web_server.put("/", home_page("/feed/"))
    feed = wordpress_rss(web_server.base, [Entry("in-feed", "フィードの記事", post_html(BODY))])
    web_server.put("/feed/", feed, "application/rss+xml; charset=UTF-8")
    web_server.fail("/sitemap.xml", 500)
    first = ingest(web_server.url("/"), tmp_path, "--json")
    assert first.returncode == 0, first.stderr
    assert any("sitemap" in failure["path"] for failure in json.loads(first.stdout)["failed"])
    read_at = first_success_at(db)

    # the sitemap answers at the next poll, and lists a page dated a day after the first read
    web_server.put("/archived/", article_page("アーカイブの記事", read_at + DAY, BODY[::-1]))
    web_server.put("/sitemap.xml", sitemap(web_server.base, ["/archived/"]), "application/xml")
    second = ingest(web_server.url("/"), tmp_path, "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["added"] == 1
    assert {post["title"] for post in posts(tmp_path)} == {"フィードの記事", "アーカイブの記事"}

    store = await Store.open(db)
    try:
        assert await store.enqueue_new_posts(max_burst=100, now=read_at + 2 * DAY) == {}
        assert await store.deliveries() == []
    finally:
        await store.close()


async def test_a_new_feed_entry_after_the_backfill_is_still_announced_once(
    web_server: WebServer, tmp_path: Path
) -> None:
    """The silence is the archive's only: the feed's next entry is news, announced once."""
    db = tmp_path / "kiji.db"
    store = await Store.open(db)
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
    assert ingest(web_server.url("/"), tmp_path).returncode == 0
    read_at = first_success_at(db)

    entries.append(Entry("new", "新しい記事", post_html(BODY[::-1]), read_at + DAY))
    web_server.put("/feed/", wordpress_rss(web_server.base, entries), "application/rss+xml; charset=UTF-8")
    assert ingest(web_server.url("/"), tmp_path).returncode == 0
    store = await Store.open(db)
    try:
        assert await store.enqueue_new_posts(max_burst=100, now=read_at + 2 * DAY) == {1: (1, 0)}
        [delivery] = await store.deliveries()
        post = await store.get_post(delivery.post_id)
        assert post is not None and post.title == "新しい記事"
        assert await store.enqueue_new_posts(max_burst=100, now=read_at + 3 * DAY) == {}
    finally:
        await store.close()
