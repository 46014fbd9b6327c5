"""A post's picture in the store: kept on both backends, and found for posts stored before the column.

The migration only adds the column: the next ingest reads each post stored before it once more,
for its picture alone, and writes nothing else: ids, text, summaries, search rows and the ledger
stay as they were, and nothing is announced again.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from factories import NOW, record, write_post
from test_canonical_migration import blog_with_address, store_at

from bot.services.blogs import ingest_all
from bot.services.ingest import DERIVED_VERSION, ingest
from bot.sources.base import Changes
from bot.sources.folder import FolderSource
from bot.sources.site_config import load_site
from bot.store import KijiStore, Store, open_store
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION

# The schema version that added posts.image (found by what it does: others may come before it).
IMAGE_MIGRATION = 1 + next(n for n, sql in enumerate(MIGRATIONS) if "ADD COLUMN image" in sql)


@pytest.fixture
def store_backend(both_backends: str) -> str:
    return both_backends


async def test_a_posts_picture_is_stored_and_read_back(store: KijiStore) -> None:
    current = {"derived_version": DERIVED_VERSION}
    with_picture = replace(record("a", "Title A", "body"), image="https://example.org/og.png", **current)
    await store.write_batch([with_picture, replace(record("b", "Title B", "body"), **current)], now=NOW)
    images = {post.path: post.image for post in await store.all_posts()}
    assert images == {"a": "https://example.org/og.png", "b": None}
    assert await store.paths_with_stale_derivations(DERIVED_VERSION) == set()  # '' is "looked for, none"
    await store.write_batch([replace(with_picture, image=None)], now=NOW)  # an edit that removed it
    post = await store.get_post_by_path("a")
    assert post is not None and post.image is None and post.as_json()["image"] is None
    # the backfill writes only pictures never looked for: a post's own (even none) is kept
    await store.fill_images([("a", "https://example.org/late.png"), ("b", "https://example.org/late.png")])
    assert {post.path: post.image for post in await store.all_posts()} == {"a": None, "b": None}
    assert await store.paths_without_image() == set()


async def test_posts_stored_before_pictures_get_them_at_the_next_ingest_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    blog = blog_with_address(tmp_path / "blog")
    write_post(blog / "_posts", "2025-06-10-pictured.md", "画像つき", "本文です。\n", image="/assets/og.png")
    write_post(blog / "_posts", "2025-06-11-inline.md", "本文に画像", "本文です。\n\n![図](/assets/fig.png)\n")
    db = tmp_path / "kiji.sqlite3"
    ids = store_at(db, IMAGE_MIGRATION - 1, blog, time.time() - 3600)
    web_row = ids["_posts/2025-06-01-llama4.md"]
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE posts SET file_mtime_ns = 0 WHERE id = ?", (web_row,))  # as a web article's row
        summaries_before = raw.execute("SELECT * FROM summaries ORDER BY post_id").fetchall()
        rows_before = raw.execute("SELECT * FROM posts ORDER BY id").fetchall()
        search_before = raw.execute("SELECT rowid, title, body FROM post_search ORDER BY rowid").fetchall()

    store = await Store.open(db)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        with sqlite3.connect(db) as raw:
            stored = dict(raw.execute("SELECT id, image FROM posts"))
        assert stored == {post_id: ("" if post_id == web_row else None) for post_id in ids.values()}
        assert await store.paths_without_image() == {path for path, post_id in ids.items() if post_id != web_row}
        assert await store.paths_with_stale_derivations(DERIVED_VERSION) == set()

        [outcome] = await ingest_all(store, [FolderSource(blog, name=blog.resolve().as_posix())])
        assert outcome.error is None and outcome.report is not None
        report = outcome.report
        assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, len(ids))
        assert await store.paths_without_image() == set()
        pictures = {post.path: post.image for post in await store.all_posts()}
        assert pictures.pop("_posts/2025-06-10-pictured.md") == "https://blog.example/assets/og.png"
        assert pictures.pop("_posts/2025-06-11-inline.md") == "https://blog.example/assets/fig.png"
        assert set(pictures.values()) == {None}
        assert await store.enqueue_new_posts(max_burst=100) == {}  # nothing announced again
        assert await store.pending_deliveries() == []
    finally:
        await store.close()
    with sqlite3.connect(db) as raw:  # only the new column was written (and the web row's file mtime)
        assert raw.execute("SELECT * FROM summaries ORDER BY post_id").fetchall() == summaries_before
        rows_after = raw.execute("SELECT * FROM posts ORDER BY id").fetchall()
        columns = [column[1] for column in raw.execute("PRAGMA table_info(posts)")]
        assert raw.execute("SELECT rowid, title, body FROM post_search ORDER BY rowid").fetchall() == search_before
    image_at, mtime_at = columns.index("image"), columns.index("file_mtime_ns")
    unchanged = [tuple(v for n, v in enumerate(row) if n not in (image_at, mtime_at)) for row in rows_after]
    assert unchanged == [row[:mtime_at] + row[mtime_at + 1 :] for row in rows_before]


async def test_a_changed_git_blog_reads_its_unchanged_posts_once_for_their_pictures(tmp_path: Path) -> None:
    """With a complete list of changes (git), posts stored before pictures are read too, not only the changed."""
    blog = blog_with_address(tmp_path / "blog")
    write_post(blog / "_posts", "2025-06-10-pictured.md", "画像つき", "本文です。\n", image="/assets/og.png")
    db = tmp_path / "kiji.sqlite3"
    store_at(db, IMAGE_MIGRATION - 1, blog, time.time() - 3600)
    store = await Store.open(db)
    try:
        write_post(
            blog / "_posts", "2025-07-01-new.md", "新しい記事", "本文です。\n", image="https://cdn.example/n.png"
        )
        changes = Changes("v2", complete=True, changed=("_posts/2025-07-01-new.md",))
        report = await ingest(store, load_site(blog), changes=changes, source_id=1)
        assert (report.added, report.updated, report.unchanged) == (1, 0, len(await store.all_posts()) - 1)
        pictures = {post.path: post.image for post in await store.all_posts()}
        assert pictures["_posts/2025-06-10-pictured.md"] == "https://blog.example/assets/og.png"
        assert pictures["_posts/2025-07-01-new.md"] == "https://cdn.example/n.png"
        assert await store.paths_without_image(1) == set()
    finally:
        await store.close()


async def test_postgresql_finds_and_fills_the_pictures_never_looked_for(postgres_url: str) -> None:
    """As a PostgreSQL store migrated from before pictures holds them: NULL until the backfill writes them."""
    store = await open_store(postgres_url)
    try:
        current = {"derived_version": DERIVED_VERSION}
        await store.write_batch([replace(record(p, p.upper(), "body"), **current) for p in ("a", "b")], now=NOW)
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute("UPDATE posts SET image = NULL")
        finally:
            await connection.close()
        assert await store.paths_without_image() == {"a", "b"}
        await store.fill_images([("a", "https://example.org/a.png"), ("b", "")])
        assert {post.path: post.image for post in await store.all_posts()} == {
            "a": "https://example.org/a.png",
            "b": None,
        }
        assert await store.paths_without_image() == set()
    finally:
        await store.close()
