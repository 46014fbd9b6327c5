"""A summary cache write never keeps a reply waiting for an ingest batch, and is never lost for it.

Issue 14 item 8: /summary replied after the writer finished an ingest batch of hundreds of posts,
seconds later, because it stored the summary it had just made before replying.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
from factories import NOW, record

from bot.content.summarize import SUMMARIZER_VERSION
from bot.store import Store
from bot.store.meta import set_meta

SENTENCES = {"short": ["一文目。"], "standard": ["一文目。", "二文目。"]}


async def test_a_summary_cached_while_the_writer_is_busy_returns_at_once_and_is_written_after(tmp_path: Path) -> None:
    path = tmp_path / "kiji.sqlite3"
    store = await Store.open(path)
    await store.write_batch([record("a", "A", "一文目。二文目。")], now=NOW)
    post = await store.get_post_by_path("a")
    assert post is not None
    running, release = asyncio.Event(), asyncio.Event()

    async def hold(connection: aiosqlite.Connection) -> None:  # an ingest batch, as long as the test wants
        await set_meta(connection, "batch", "written")
        running.set()
        await release.wait()

    batch = asyncio.ensure_future(store.database.write(hold))
    await running.wait()
    async with asyncio.timeout(60):  # only a guard: waiting for the batch here would never end
        await store.put_summaries(post.id, "extractive", SUMMARIZER_VERSION, SENTENCES)
    assert not batch.done()
    assert await store.get_summary(post.id, "short") is None  # queued behind the batch, not yet written
    release.set()
    await batch
    await store.close()  # waits for the queued cache write

    reopened = await Store.open(path)
    try:
        assert await reopened.get_summary(post.id, "standard") == ("一文目。", "二文目。")
        assert await reopened.get_meta("batch") == "written"
    finally:
        await reopened.close()


async def test_with_the_writer_free_a_cached_summary_is_readable_when_the_call_returns(store: Store) -> None:
    await store.write_batch([record("a", "A", "一文目。二文目。")], now=NOW)
    post = await store.get_post_by_path("a")
    assert post is not None
    await store.put_summaries(post.id, "extractive", SUMMARIZER_VERSION, SENTENCES)
    assert await store.get_summary(post.id, "short") == ("一文目。",)
