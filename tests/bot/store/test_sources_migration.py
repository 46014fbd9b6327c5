"""Migration 6 moves a one-blog store to sources in place: same ids, same ledger, nothing announced again."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from factories import make_blog, write_post

from bot.models import FileState
from bot.services.blogs import ingest_all
from bot.services.ingest import DERIVED_VERSION, content_hash, prepare_post
from bot.sources.folder import FolderSource
from bot.sources.post_files import scan_post_files
from bot.sources.site_config import load_site
from bot.store import Store
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION, split_statements

SOURCES_MIGRATION = 6  # the schema version that introduced sources
_POST_COLUMNS = (
    "path, jekyll_id, url, abs_url, slug, title, title_key, date_utc, date_iso, author, excerpt, description, "
    "reading_time, text, file_size, file_mtime_ns, content_hash, first_seen_at, updated_at, outline, derived_version"
)


def store_before_sources(db: Path, blog: Path, seen_at: float) -> dict[str, int]:
    """A store as the Kiji before sources left it: the blog's posts, two subscriptions, a full ledger.

    Written with the old schema's own statements, from records the ingest pipeline prepares from
    the blog's files (so the next ingest finds them unchanged). Returns path → post id.
    """
    site = load_site(blog)
    with sqlite3.connect(db, isolation_level=None) as raw:
        for script in MIGRATIONS[: SOURCES_MIGRATION - 1]:
            for statement in split_statements(script):
                raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {SOURCES_MIGRATION - 1:d}")
        ids: dict[str, int] = {}
        for abs_path, rel_path in scan_post_files(site).files:
            data = Path(abs_path).read_bytes()
            stat = os.stat(abs_path)
            record = prepare_post(data, rel_path, site, FileState(len(data), stat.st_mtime_ns, content_hash(data)))
            assert record is not None and record.derived_version == DERIVED_VERSION
            cursor = raw.execute(
                f"INSERT INTO posts ({_POST_COLUMNS}) VALUES ({', '.join('?' * 21)})",
                (
                    record.path, record.jekyll_id, record.url, record.abs_url, record.slug, record.title,
                    record.title.casefold(), record.date_utc, record.date_iso, record.author, record.excerpt,
                    record.description, record.reading_time, record.text, record.file.size, record.file.mtime_ns,
                    record.file.content_hash, seen_at, seen_at, record.outline, record.derived_version,
                ),
            )  # fmt: skip
            ids[record.path] = int(cursor.lastrowid or 0)
            raw.execute("INSERT INTO post_search (rowid, title, body) VALUES (?, ?, ?)", (ids[record.path], *[
                record.title_tokens, record.body_tokens]))  # fmt: skip
        for channel, created in ((100, seen_at - 60), (200, seen_at + 60)):
            raw.execute(
                "INSERT INTO subscriptions (guild_id, channel_id, channel_kind, tags, categories, created_at) "
                "VALUES (1, ?, 'text', '[]', '[]', ?)",
                (channel, created),
            )
        # channel 100 was there when the posts came: each went out once (the last one is still pending)
        for number, (path, post_id) in enumerate(sorted(ids.items())):
            state = "pending" if number == len(ids) - 1 else "sent"
            raw.execute(
                "INSERT INTO deliveries (subscription_id, post_path, post_id, post_date_utc, state, nonce, "
                "message_id, created_at) VALUES (1, ?, ?, 0, ?, ?, ?, ?)",
                (path, post_id, state, f"nonce-{number}", 9000 + number if state == "sent" else None, seen_at),
            )
        raw.execute("INSERT INTO meta (key, value) VALUES ('last_ingest_at', ?)", (repr(seen_at),))
    return ids


def ledger(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as raw:
        return raw.execute(
            "SELECT id, subscription_id, post_path, post_id, state, nonce, message_id FROM deliveries ORDER BY id"
        ).fetchall()


async def test_a_store_migrated_then_ingested_announces_nothing_again(tmp_path: Path) -> None:
    blog = make_blog(tmp_path / "blog", tagged_ai=3)
    db = tmp_path / "kiji.sqlite3"
    seen_at = time.time() - 3600
    ids = store_before_sources(db, blog, seen_at)
    before = ledger(db)

    store = await Store.open(db)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        [outcome] = await ingest_all(store, [FolderSource(blog, name=blog.resolve().as_posix())])
        assert outcome.error is None and outcome.report is not None
        assert (outcome.report.added, outcome.report.updated, outcome.report.removed) == (0, 0, 0)
        assert outcome.report.unchanged == len(ids)
        assert await store.enqueue_new_posts(max_burst=100) == {}
        [source] = await store.sources()
        assert (source.name, source.posts, source.last_error) == (blog.resolve().as_posix(), len(ids), None)
        for path, post_id in ids.items():  # same ids: autocomplete values and the ledger still point right
            found = await store.get_post_by_path(path)
            assert found is not None and found.id == post_id and found.source == source.name
        hits = await store.search("Llama")  # the index still finds each post under its id, title match first
        assert hits[0].post.id == ids["_posts/2025-06-01-llama4.md"] and hits[0].in_title
        [pending] = await store.pending_deliveries()
        assert pending.nonce == f"nonce-{len(ids) - 1}"  # a retry still carries the nonce it was first sent with

        # and the next post is news as before: once, to both channels
        write_post(blog, "2025-07-01-after.md", "After the upgrade", "本文です。十分な内容です。")
        await ingest_all(store, [FolderSource(blog, name=blog.resolve().as_posix())])
        assert await store.enqueue_new_posts(max_burst=100) == {1: (1, 0), 2: (1, 0)}
    finally:
        await store.close()
    assert ledger(db)[: len(before)] == before


async def test_migrating_keeps_tags_summaries_and_the_search_index(tmp_path: Path) -> None:
    """Rebuilding `posts` must not cascade to the rows that point at it."""
    blog = make_blog(tmp_path / "blog", tagged_ai=2)
    db = tmp_path / "kiji.sqlite3"
    ids = store_before_sources(db, blog, time.time() - 3600)
    post_id = ids["_posts/2025-06-01-llama4.md"]
    with sqlite3.connect(db) as raw:
        tag = raw.execute("INSERT INTO tags (key, name) VALUES ('meta', 'Meta') RETURNING id").fetchone()[0]
        raw.execute("INSERT INTO post_tags VALUES (?, 0, ?, 0)", (tag, post_id))
        raw.execute(
            "INSERT INTO summaries VALUES (?, 'short', 'extractive', '1', 'h', '[\"A sentence.\"]', 0)", (post_id,)
        )
    store = await Store.open(db)
    try:
        assert [t.name for t in await store.tags()] == ["Meta"]
        with sqlite3.connect(db) as raw:
            assert raw.execute("SELECT count(*) FROM summaries").fetchone()[0] == 1
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
            assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 0  # a new connection's default
    finally:
        await store.close()


async def test_two_blogs_may_hold_the_same_file_name(tmp_path: Path, store: Store) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, title in ((first, "First hello"), (second, "Second hello")):
        folder.mkdir()
        write_post(folder, "2024-01-01-hello.md", title, "A body long enough to be a post.")
    sources = [FolderSource(first, name="first"), FolderSource(second, name="second")]
    outcomes = await ingest_all(store, sources)
    assert [o.report.added if o.report else None for o in outcomes] == [1, 1]
    again = await ingest_all(store, sources)
    assert [(o.report.added, o.report.removed, o.report.unchanged) if o.report else None for o in again] == [
        (0, 0, 1),
        (0, 0, 1),
    ]
    by_source = {p.source: p.title for p in await store.all_posts()}
    assert by_source == {"first": "First hello", "second": "Second hello"}
    assert [(s.name, s.posts) for s in await store.sources()] == [("first", 1), ("second", 1)]


async def test_a_blog_added_later_announces_only_what_comes_after(tmp_path: Path, store: Store) -> None:
    first, second = make_blog(tmp_path / "first", tagged_ai=1), make_blog(tmp_path / "second", tagged_ai=2)
    await ingest_all(store, [FolderSource(first, name="first")])
    everything = await store.subscribe(1, 100, "text")
    only_second = await store.subscribe(1, 200, "text", source_id=await store.register_source("second", "second"))
    await ingest_all(store, [FolderSource(first, name="first"), FolderSource(second, name="second")])
    assert await store.enqueue_new_posts(max_burst=100) == {}  # its back catalogue is not news
    write_post(second, "2025-08-01-new.md", "New on the second blog", "本文です。十分な内容です。")
    write_post(first, "2025-08-01-new.md", "New on the first blog", "本文です。十分な内容です。")
    await ingest_all(store, [FolderSource(first, name="first"), FolderSource(second, name="second")])
    assert await store.enqueue_new_posts(max_burst=100) == {everything.id: (2, 0), only_second.id: (1, 0)}
    pending = []
    for delivery in await store.pending_deliveries():
        post = await store.get_post(delivery.post_id or 0)
        pending.append((delivery.channel_id, post.source if post else None))
    assert sorted(pending) == [(100, "first"), (100, "second"), (200, "second")]
    nonces = {d.nonce for d in await store.pending_deliveries()}
    assert len(nonces) == 3  # same path in two blogs: two messages, not one dropped as a repeat
