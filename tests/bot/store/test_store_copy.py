"""`kiji store copy --to postgresql://…`: a SQLite store moves into an empty PostgreSQL database whole.

Driven as an operator does it: a blog ingested with `kiji ingest`, channels subscribed and
announcements recorded through the store, the copy run as a command, and the bot's store then
opened on PostgreSQL: every ledger the same, search the same, nothing old queued again.
"""

from __future__ import annotations

import time
from pathlib import Path

from factories import EN_BODY, JA_BODY, write_post
from kiji_cli import kiji

from bot.store import KijiStore, open_store

QUERIES = ("Llama", "言語モデル", "推論コスト", "Experts", "nothing-matches-this")


def write_posts(folder: Path, first: int, count: int) -> None:
    for number in range(first, first + count):
        body = JA_BODY if number % 2 else EN_BODY
        write_post(folder, f"2024-03-{number:02d}-post-{number}.md", f"記事 {number}", body,
                   date=f"2024-03-{number:02d} 09:00:00 +0900", tags=f"[AI, tag{number % 3}]")  # fmt: skip


async def everything(store: KijiStore, now: float) -> dict[str, object]:
    """What the bot reads of a store, with the ledgers in full."""
    return {
        "posts": await store.all_posts(),
        "sources": await store.sources(now=now),
        "tags": await store.tags(now=now),
        "subscriptions": await store.subscriptions(),
        "deliveries": await store.deliveries(),
        "pending": await store.pending_deliveries(),
        "digests": await store.digests(),
        "notices": await store.notices(),
        "notice_settings": await store.notice_settings(1),
        "search": [await store.search(query, now=now) for query in QUERIES],
        "summary": await store.get_summary(1, "short"),
        "last_ingest": await store.get_meta("last_ingest_at"),
    }


async def test_a_sqlite_store_moves_to_postgresql_with_nothing_announced_again(
    tmp_path: Path, postgres_url: str
) -> None:
    posts, db = tmp_path / "posts", tmp_path / "kiji.sqlite3"
    posts.mkdir()
    write_posts(posts, 1, 4)
    assert kiji("ingest", "--posts", str(posts), "--db", str(db)).returncode == 0
    store = await open_store(db)
    try:
        now = time.time() + 60
        announced = await store.subscribe(1, 100, "text", now=1.0)
        digest = await store.subscribe(1, 200, "text", now=1.0, digest=("daily", 9, 0))
        tagged = await store.subscribe(2, 300, "text", tags=["tag1"], now=1.0)
        await store.set_notice_settings(1, True, 400, now=now)
        await store.put_summaries(1, "extractive", "v1", {"short": ["一文目。"]})
    finally:
        await store.close()
    write_posts(posts, 5, 2)  # two new posts: news for the subscriptions made before them
    assert kiji("ingest", "--posts", str(posts), "--db", str(db)).returncode == 0
    store = await open_store(db)
    try:
        queued = await store.enqueue_new_posts(max_burst=10, now=now)
        assert queued == {announced.id: (2, 0), digest.id: (2, 0)}  # channel 300's filter matches neither
        first, second = await store.pending_deliveries()
        await store.mark_sent(first, 900001, now=now)  # one announced, one still to go
        await store.record_attempt(second.id, "503 from Discord")
        claimed = [d.id for d in await store.queued_for_digest(digest.id)]
        opened = await store.open_digest(digest.id, (now - 86400, now), [{"content": "2 posts"}], claimed, now=now)
        assert opened is not None
        await store.record_digest_part(opened.id, 0, 900002)
        [source] = await store.sources(now=now)
        await store.record_source_failure(source.id, "the folder is gone", now=now)
        assert await store.plan_notices([source.id], failing_before=now, now=now) == (
            2,
            0,
        )  # guild 1's named channel, guild 2's
        notice, _ = await store.notices()
        await store.mark_notice_sent(notice.id, 900003, now=now)
        before = await everything(store, now)
    finally:
        await store.close()

    secret = postgres_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    copied = kiji("store", "copy", "--db", str(db), "--to", postgres_url)
    assert copied.returncode == 0, copied.stderr
    assert "6 posts, 3 subscriptions, 4 deliveries" in copied.stdout
    assert secret not in copied.stdout + copied.stderr

    moved = await open_store(postgres_url)
    try:
        assert await everything(moved, now) == before
        assert await moved.enqueue_new_posts(max_burst=10, now=now + 3600) == {}  # nothing old is news again
        # the ledger goes on where it stopped: the pending delivery keeps its nonce
        assert [(d.id, d.nonce) for d in await moved.pending_deliveries()] == [
            (d.id, d.nonce)
            for d in before["pending"]  # type: ignore[attr-defined]
        ]
    finally:
        await moved.close()

    # the bot, now on PostgreSQL, reads the blog on: one new post is news, once, with a new id
    write_posts(posts, 7, 1)
    assert kiji("ingest", "--posts", str(posts), "--db", postgres_url).returncode == 0
    moved = await open_store(postgres_url)
    try:
        assert await moved.enqueue_new_posts(max_burst=10, now=time.time() + 120) == {
            announced.id: (1, 0),
            digest.id: (1, 0),
            tagged.id: (1, 0),  # post 7 is tagged tag1
        }
        newest = max(await moved.all_posts(), key=lambda post: post.id)
        assert newest.title == "記事 7" and newest.id == 7
    finally:
        await moved.close()


async def test_a_database_that_holds_a_store_is_refused_without_showing_the_password(
    tmp_path: Path, postgres_url: str
) -> None:
    posts, db = tmp_path / "posts", tmp_path / "kiji.sqlite3"
    posts.mkdir()
    write_posts(posts, 1, 2)
    assert kiji("ingest", "--posts", str(posts), "--db", str(db)).returncode == 0
    assert kiji("store", "copy", "--db", str(db), "--to", postgres_url).returncode == 0
    secret = postgres_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]

    again = kiji("store", "copy", "--db", str(db), "--to", postgres_url)
    assert again.returncode == 2
    assert "is not empty (1 in sources, " in again.stderr and ", 2 in posts, " in again.stderr
    assert "nothing was copied" in again.stderr
    assert secret not in again.stdout + again.stderr
    store = await open_store(postgres_url)
    try:
        assert len(await store.all_posts()) == 2  # the first copy, untouched
    finally:
        await store.close()

    wrong = postgres_url.replace(f":{secret}@", ":not-the-password@")
    refused = kiji("store", "copy", "--db", str(db), "--to", wrong)
    assert refused.returncode == 2 and "password was refused" in refused.stderr
    assert "not-the-password" not in refused.stdout + refused.stderr
    into_a_file = kiji("store", "copy", "--db", str(db), "--to", str(tmp_path / "other.sqlite3"))
    assert into_a_file.returncode == 2 and "give a postgresql:// URL" in into_a_file.stderr
