"""A damaged store is refused at start with how to rebuild it; `kiji backup` keeps what cannot be re-ingested.

Issue 14 item 13: garbage written into the middle of the file, and a no-op ingest reported
success while editing an affected post gave a raw DatabaseError traceback. The posts can always
be re-ingested; the subscriptions and the delivery ledger exist only in the file, so they are
what a backup must keep, and what a restore must bring back.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from pathlib import Path

import pytest
from factories import NOW, record, write_post
from kiji_cli import kiji

from bot.store import Store

POSTS = 40


@pytest.fixture
def blog(tmp_path: Path) -> Path:
    posts = tmp_path / "posts"
    posts.mkdir()
    for n in range(1, POSTS + 1):
        body = f"記事{n}の本文です。推論コストと検索について書きます。" * 40  # a few KB: the file has many pages
        month, day = divmod(n - 1, 28)
        write_post(posts, f"2025-{month + 1:02d}-{day + 1:02d}-post-{n}.md", f"記事 {n}", body, tags="[AI, 検索]")
    return posts


def ingest(posts: Path, db: Path) -> dict:  # type: ignore[type-arg]
    result = kiji("ingest", "--posts", str(posts), "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def write_garbage_into_the_middle(db: Path) -> None:
    """Random bytes over the middle third of the file's pages, the first page (the header) left alone."""
    with sqlite3.connect(db) as raw:
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, none of it left in the WAL
    raw.close()
    assert pages >= 30, pages
    noise = random.Random(13)
    with db.open("r+b") as file:
        for page in range(pages // 3, 2 * pages // 3):
            file.seek(page * page_size)
            file.write(noise.randbytes(page_size))


def assert_damage_explained(result, db: Path) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert f"the database {db} is damaged" in result.stderr
    assert f"move {db} aside and run `kiji ingest`" in result.stderr
    assert "kiji backup" in result.stderr and ".recover" in result.stderr


def test_garbage_in_the_middle_of_the_file_is_found_at_start_with_how_to_rebuild(blog: Path, tmp_path: Path) -> None:
    db = tmp_path / "kiji.db"
    assert ingest(blog, db)["added"] == POSTS
    write_garbage_into_the_middle(db)
    assert_damage_explained(kiji("ingest", "--posts", str(blog), "--db", str(db)), db)  # a no-op ingest
    write_post(blog, "2025-01-05-post-5.md", "記事 5 (改)", "書き直した本文です。", tags="[AI]")  # an edit
    assert_damage_explained(kiji("ingest", "--posts", str(blog), "--db", str(db)), db)
    assert_damage_explained(kiji("posts", "--db", str(db), "--json"), db)
    assert_damage_explained(kiji("search", "推論", "--db", str(db)), db)
    # the advice works: the damaged file moved aside, an ingest builds the posts again
    db.rename(tmp_path / "kiji.db.damaged")
    assert ingest(blog, db)["added"] == POSTS
    assert "記事 5 (改)" in {post["title"] for post in json.loads(kiji("posts", "--db", str(db), "--json").stdout)}


async def fill_ledger(db: Path) -> tuple[list[tuple[int, tuple[str, ...]]], set[tuple[str, int, str]]]:
    """Two subscriptions and a ledger of sent and pending deliveries; returns what a restore must bring back."""
    store = await Store.open(db)
    try:
        await store.write_batch([record(f"p{i}", f"P{i}", "x", date_utc=NOW - 100 + i) for i in range(3)], now=NOW)
        every = await store.subscribe(1, 500, "text", now=NOW - 1000)
        await store.subscribe(1, 600, "text", tags=("AI",), now=NOW - 1000)
        await store.enqueue_new_posts(10, now=NOW + 1)
        first, *_ = await store.pending_deliveries()
        await store.mark_sent(first, 777, now=NOW + 2)
        await store.pause_subscription(every.id, "missing Send Messages", now=NOW + 3)
        return await ledger_of(store)
    finally:
        await store.close()


async def ledger_of(store: Store) -> tuple[list[tuple[int, tuple[str, ...]]], set[tuple[str, int, str]]]:
    subscriptions = [(s.channel_id, s.tags) for s in await store.subscriptions()]
    deliveries = {(d.post_path, d.channel_id, d.state) for d in await store.deliveries()}
    return subscriptions, deliveries


async def read_ledger(db: Path) -> tuple[list[tuple[int, tuple[str, ...]]], set[tuple[str, int, str]]]:
    store = await Store.open(db, create=False)
    try:
        return await ledger_of(store)
    finally:
        await store.close()


def test_a_backup_restores_the_subscriptions_and_the_ledger_of_a_damaged_store(tmp_path: Path) -> None:
    db, copy = tmp_path / "kiji.db", tmp_path / "backups" / "kiji-backup.db"
    copy.parent.mkdir()
    before = asyncio.run(fill_ledger(db))
    assert len(before[0]) == 2 and len(before[1]) == 3
    result = kiji("backup", str(copy), "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"backup": str(copy), "subscriptions": 2, "deliveries": 3}
    assert sorted(p.name for p in copy.parent.iterdir()) == ["kiji-backup.db"]  # no partial copy left behind

    write_garbage_into_the_middle_of_a_small_file(db)
    assert_damage_explained(kiji("deliveries", "--db", str(db)), db)
    # the restore README describes: the backup put in the damaged file's place
    db.rename(tmp_path / "kiji.db.damaged")
    copy.rename(db)
    assert asyncio.run(read_ledger(db)) == before
    ledger = json.loads(kiji("deliveries", "--db", str(db), "--json").stdout)
    assert {(row["post_path"], row["channel_id"], row["state"]) for row in ledger} == {
        (path, str(channel), state) for path, channel, state in before[1]
    }


def write_garbage_into_the_middle_of_a_small_file(db: Path) -> None:
    """A store of a few rows spans only a handful of pages: garbage over every page but the header."""
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
    raw.close()
    noise = random.Random(7)
    with db.open("r+b") as file:
        for page in range(1, pages):
            file.seek(page * page_size)
            file.write(noise.randbytes(page_size))


def test_a_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    db, existing = tmp_path / "kiji.db", tmp_path / "precious.db"
    asyncio.run(fill_ledger(db))
    existing.write_bytes(b"not to be lost")
    for target in (existing, db):
        before = target.read_bytes()
        result = kiji("backup", str(target), "--db", str(db))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"cannot back up to {target}: it already exists" in result.stderr
        assert target.read_bytes() == before
    missing_folder = kiji("backup", str(tmp_path / "no" / "such" / "folder.db"), "--db", str(db))
    assert missing_folder.returncode == 2 and "cannot back up" in missing_folder.stderr
    assert "Traceback" not in missing_folder.stderr


def test_a_backup_taken_while_another_connection_writes_holds_the_last_committed_state(tmp_path: Path) -> None:
    db, copy = tmp_path / "kiji.db", tmp_path / "copy.db"
    before = asyncio.run(fill_ledger(db))
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # as the bot does in the middle of a write: the write lock held
        writer.execute(
            "INSERT INTO subscriptions (guild_id, channel_id, channel_kind, tags, categories, created_at) "
            "VALUES (1, 900, 'text', '[]', '[]', 0)"
        )
        result = kiji("backup", str(copy), "--db", str(db))
        assert result.returncode == 0, result.stderr
        assert "2 subscriptions, 3 deliveries" in result.stdout
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert asyncio.run(read_ledger(copy)) == before
    assert len(asyncio.run(read_ledger(db))[0]) == 3
