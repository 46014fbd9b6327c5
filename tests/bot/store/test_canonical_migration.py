"""Migration 9 gives every post a second key, its canonical URL, in place: a Jekyll store at schema 8
opens with its ids, its summaries and its ledger as they were, and nothing is announced again.

Migration 13 marks the web archive stored before it as silent.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from factories import make_blog

from bot.models import FileState
from bot.services.blogs import ingest_all
from bot.services.ingest import DERIVED_VERSION, content_hash, prepare_post
from bot.sources.folder import FolderSource
from bot.sources.post_files import scan_post_files
from bot.sources.site_config import load_site
from bot.store import Store
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION, split_statements

CANONICAL_MIGRATION = 9  # the schema version that introduced canonical_key
# The schema version that made the web archive silent (found by what it does: others may come before it).
SILENT_MIGRATION = 1 + next(n for n, sql in enumerate(MIGRATIONS) if "ADD COLUMN silent" in sql)
_POST_COLUMNS = (
    "source_id, path, jekyll_id, url, abs_url, slug, title, title_key, date_utc, date_iso, author, excerpt, "
    "description, reading_time, text, file_size, file_mtime_ns, content_hash, first_seen_at, updated_at, outline, "
    "derived_version"
)


def store_at(db: Path, version: int, blog: Path, seen_at: float) -> dict[str, int]:
    """A store at schema `version` holding the blog's posts as the ingest of that Kiji wrote them,
    a subscription older than them and a sent delivery for each. Returns path → post id."""
    site = load_site(blog)
    with sqlite3.connect(db, isolation_level=None) as raw:
        for script in MIGRATIONS[:version]:
            for statement in split_statements(script):
                raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {version:d}")
        raw.execute(
            "INSERT INTO sources (id, name, display, last_success_at, first_success_at) VALUES (1, ?, ?, ?, ?)",
            (blog.resolve().as_posix(), str(blog), seen_at, seen_at - 600),
        )
        raw.execute(
            "INSERT INTO subscriptions (guild_id, channel_id, channel_kind, tags, categories, created_at) "
            "VALUES (1, 100, 'text', '[]', '[]', ?)",
            (seen_at - 3600,),
        )
        ids: dict[str, int] = {}
        for abs_path, rel_path in scan_post_files(site).files:
            data = Path(abs_path).read_bytes()
            stat = os.stat(abs_path)
            record = prepare_post(data, rel_path, site, FileState(len(data), stat.st_mtime_ns, content_hash(data)))
            assert record is not None and record.derived_version == DERIVED_VERSION
            cursor = raw.execute(
                f"INSERT INTO posts ({_POST_COLUMNS}) VALUES ({', '.join('?' * 22)})",
                (
                    1, record.path, record.jekyll_id, record.url, record.abs_url, record.slug, record.title,
                    record.title.casefold(), record.date_utc, record.date_iso, record.author, record.excerpt,
                    record.description, record.reading_time, record.text, record.file.size, record.file.mtime_ns,
                    record.file.content_hash, seen_at, seen_at, record.outline, record.derived_version,
                ),
            )  # fmt: skip
            post_id = int(cursor.lastrowid or 0)
            ids[record.path] = post_id
            raw.execute(
                "INSERT INTO post_search (rowid, title, body) VALUES (?, ?, ?)",
                (post_id, record.title_tokens, record.body_tokens),
            )
            raw.execute(
                "INSERT INTO summaries VALUES (?, 'short', 'extractive', ?, ?, '[\"Stored summary.\"]', 0)",
                (post_id, record.derived_version, record.file.content_hash),
            )
            raw.execute(
                "INSERT INTO deliveries (subscription_id, source_id, post_path, post_id, post_date_utc, state, nonce, "
                "message_id, created_at) VALUES (1, 1, ?, ?, 0, 'sent', ?, ?, ?)",
                (record.path, post_id, f"nonce-{post_id}", 9000 + post_id, seen_at),
            )
    return ids


def blog_with_address(folder: Path) -> Path:
    blog = make_blog(folder, tagged_ai=3)
    (blog / "_posts").mkdir(exist_ok=True)
    for post in list(blog.glob("*.md")):
        post.rename(blog / "_posts" / post.name)
    (blog / "_config.yml").write_text("title: 記事\nurl: https://blog.example\n", encoding="utf-8")
    return blog


async def test_a_jekyll_store_at_schema_8_opens_with_its_ids_and_announces_nothing(tmp_path: Path) -> None:
    blog = blog_with_address(tmp_path / "blog")
    db = tmp_path / "kiji.sqlite3"
    ids = store_at(db, CANONICAL_MIGRATION - 1, blog, time.time() - 3600)
    with sqlite3.connect(db) as raw:
        abs_urls = dict(raw.execute("SELECT path, abs_url FROM posts"))
        summaries_before = raw.execute("SELECT * FROM summaries ORDER BY post_id").fetchall()
    assert all(url.startswith("https://blog.example/") for url in abs_urls.values())

    store = await Store.open(db)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        with sqlite3.connect(db) as raw:
            keys = {
                path: (post_id, key) for path, post_id, key in raw.execute("SELECT path, id, canonical_key FROM posts")
            }
        assert keys == {path: (ids[path], abs_urls[path]) for path in ids}
        assert await store.canonical_paths(1) == {abs_urls[path]: path for path in ids}

        [outcome] = await ingest_all(store, [FolderSource(blog, name=blog.resolve().as_posix())])
        assert outcome.error is None and outcome.report is not None
        assert (outcome.report.added, outcome.report.updated, outcome.report.unchanged) == (0, 0, len(ids))
        assert await store.enqueue_new_posts(max_burst=100) == {}
        assert await store.pending_deliveries() == []
        for path, post_id in ids.items():
            found = await store.get_post_by_path(path)
            assert found is not None and found.id == post_id
    finally:
        await store.close()
    with sqlite3.connect(db) as raw:  # no stored summary re-derived
        assert raw.execute("SELECT * FROM summaries ORDER BY post_id").fetchall() == summaries_before
        assert raw.execute("SELECT count(*) FROM posts WHERE silent").fetchone()[0] == 0


async def test_the_archive_stored_before_migration_13_becomes_silent(tmp_path: Path) -> None:
    blog = blog_with_address(tmp_path / "blog")
    db = tmp_path / "kiji.sqlite3"
    ids = store_at(db, SILENT_MIGRATION - 1, blog, time.time() - 3600)
    archived = sorted(ids.values())[0]
    with sqlite3.connect(db) as raw:  # a web archive's row: first seen at 0, from no file, with a canonical key
        raw.execute("DELETE FROM deliveries WHERE post_id = ?", (archived,))
        raw.execute(
            "UPDATE posts SET first_seen_at = 0, file_mtime_ns = 0, canonical_key = abs_url, date_utc = ? WHERE id = ?",
            (time.time() - 60, archived),
        )
    store = await Store.open(db)
    try:
        assert await store.enqueue_new_posts(max_burst=100) == {}
    finally:
        await store.close()
    with sqlite3.connect(db) as raw:
        assert [row[0] for row in raw.execute("SELECT id FROM posts WHERE silent")] == [archived]
