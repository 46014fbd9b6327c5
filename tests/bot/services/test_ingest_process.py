"""The running bot's ingest in a process of its own: the same posts as an ingest here, and it survives kills."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import aiosqlite
import pytest
from factories import JA_BODY, make_blog, write_post

from bot.services.ingest import ingest
from bot.services.ingest_process import IngestProcess
from bot.sources.base import Changes
from bot.sources.site_config import load_site
from bot.store import Store, StoreError

# Ordinary text, seconds of cleaning for a few hundred posts on two cores: an ingest to kill half-way.
SLOW_BODY = "本文です。[リンク](https://example.org) を読んでください。" * 600
SLOW_POSTS = 300
POLLED_AT = 1_750_000_000.0  # the bot's store clock when it polled, sent with the request
WHOLE_SITE = Changes(version=None)
SOURCE = 1  # the store's id of the one blog  # a folder: no list of changes, the whole site is compared


@pytest.fixture
async def ingester(tmp_path: Path) -> AsyncIterator[IngestProcess]:
    store = await Store.open(tmp_path / "kiji.db")  # made and migrated, as the bot does before starting it
    assert await store.default_source_id() == SOURCE
    process = IngestProcess(store, workers=2)
    try:
        yield process
    finally:
        await process.stop()
        await store.close()


def stored(db: Path) -> list[tuple[object, ...]]:
    """Every post as the store holds it, with its tags and index entry: what a reader would see."""
    with sqlite3.connect(db) as raw:
        return raw.execute(
            "SELECT p.path, p.url, p.title, p.date_utc, p.text, p.content_hash, p.first_seen_at,"
            " (SELECT group_concat(t.name, ',') FROM post_tags pt JOIN tags t ON t.id = pt.tag_id"
            "  WHERE pt.post_id = p.id),"
            " (SELECT count(*) FROM post_search f WHERE f.rowid = p.id)"
            " FROM posts p ORDER BY p.path"
        ).fetchall()


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_it_stores_what_an_ingest_in_this_process_stores(tmp_path: Path, ingester: IngestProcess) -> None:
    blog = make_blog(tmp_path / "blog")
    site = load_site(blog)
    elsewhere = await ingester.ingest(site, WHOLE_SITE, SOURCE, POLLED_AT)

    here = await Store.open(tmp_path / "here.db", clock=lambda: POLLED_AT)
    try:
        assert await here.default_source_id() == SOURCE
        local = await ingest(here, site, source_id=SOURCE)
    finally:
        await here.close()
    assert elsewhere.added == local.added > 20 and elsewhere.failed == local.failed == []
    posts = stored(tmp_path / "kiji.db")
    assert posts == stored(tmp_path / "here.db")
    assert {post[6] for post in posts} == {POLLED_AT}  # first seen when the bot polled, by the bot's clock
    assert all(post[8] == 1 for post in posts)  # each one in the search index

    write_post(blog, "2025-06-30-later.md", "後から来た記事", JA_BODY)
    again = await ingester.ingest(load_site(blog), WHOLE_SITE, SOURCE, POLLED_AT + 60)
    assert (again.added, again.updated, again.unchanged) == (1, 0, local.added)


async def test_a_killed_ingest_process_loses_only_its_batch_in_flight(tmp_path: Path, ingester: IngestProcess) -> None:
    blog = tmp_path / "blog"
    blog.mkdir()
    for i in range(SLOW_POSTS):
        write_post(blog, f"2025-05-01-slow-{i:04d}.md", f"遅い記事{i}", SLOW_BODY)
    site = load_site(blog)
    ingester.start()
    killed = ingester.pid
    assert killed is not None and killed != os.getpid()
    running = asyncio.create_task(ingester.ingest(site, WHOLE_SITE, SOURCE, POLLED_AT))
    await until(lambda: len(stored(tmp_path / "kiji.db")) > 0 or running.done(), "a first batch to be committed")
    os.kill(killed, signal.SIGKILL)  # as the kernel's OOM killer would
    with pytest.raises(BrokenProcessPool, match="ingest process ended"):
        await running
    survivors = stored(tmp_path / "kiji.db")
    assert 0 < len(survivors) < SLOW_POSTS, "the ingest ended before the kill; the test proved nothing"
    assert all(post[7] is None and post[8] == 1 for post in survivors)  # whole posts, each indexed

    rest = await ingester.ingest(site, WHOLE_SITE, SOURCE, POLLED_AT)  # a new process takes over
    assert ingester.pid not in (None, killed)
    assert rest.added == SLOW_POSTS - len(survivors) and rest.failed == []
    assert len(stored(tmp_path / "kiji.db")) == SLOW_POSTS
    with sqlite3.connect(tmp_path / "kiji.db") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_a_killed_parse_worker_fails_one_request_and_a_new_pool_takes_over(
    tmp_path: Path, ingester: IngestProcess
) -> None:
    blog = make_blog(tmp_path / "blog")
    worker = await ingester.parse_worker_pid()
    child = ingester.pid
    assert worker not in (os.getpid(), child)
    os.kill(worker, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool, match="a parse worker died"):
        await ingester.ingest(load_site(blog), WHOLE_SITE, SOURCE, POLLED_AT)
    report = await ingester.ingest(load_site(blog), WHOLE_SITE, SOURCE, POLLED_AT)
    assert report.added > 20 and report.failed == []
    assert ingester.pid == child  # the process itself lived on
    assert await ingester.parse_worker_pid() != worker


async def test_a_store_it_cannot_open_is_a_store_error_naming_the_file(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "kiji.db")
    process = IngestProcess(store, workers=1)
    moved = tmp_path / "moved.db"
    (tmp_path / "kiji.db").rename(moved)  # the file went away after this process opened it
    try:
        with pytest.raises(StoreError, match=str(tmp_path / "kiji.db")):
            await process.ingest(load_site(make_blog(tmp_path / "blog")), WHOLE_SITE, SOURCE, POLLED_AT)
    finally:
        await process.stop()
        await store.close()


async def test_stop_ends_the_process_and_a_later_request_starts_a_new_one(
    tmp_path: Path, ingester: IngestProcess
) -> None:
    ingester.start()
    first = ingester.pid
    assert first is not None
    await ingester.stop()
    assert ingester.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # reaped: gone, not a zombie
    report = await ingester.ingest(load_site(make_blog(tmp_path / "blog")), WHOLE_SITE, SOURCE, POLLED_AT)
    assert report.added > 20 and ingester.pid not in (None, first)


async def test_the_bots_own_writes_take_turns_with_the_ingest_and_never_meet_sqlites_lock(
    tmp_path: Path, ingester: IngestProcess
) -> None:
    # SQLite would make a write wait for the other process's transaction by polling, then fail after
    # its timeout; here the timeout is zero, so any write that met the child's lock would fail at once,
    # from the child's opening of the file (a fresh child: this request starts it) to its last batch.
    store = ingester.store

    async def no_busy_wait(connection: aiosqlite.Connection) -> None:
        await connection.execute("PRAGMA busy_timeout = 0")

    await store.database.run_on_writer(no_busy_wait)
    blog = tmp_path / "blog"
    blog.mkdir()
    for i in range(SLOW_POSTS):
        write_post(blog, f"2025-05-01-slow-{i:04d}.md", f"遅い記事{i}", SLOW_BODY)
    running = asyncio.create_task(ingester.ingest(load_site(blog), WHOLE_SITE, SOURCE, POLLED_AT))
    during = 0
    while not running.done():
        await store.set_meta("probe", str(during))  # a subscription, a delivery: any write of the bot
        during += 1
        await asyncio.sleep(0)
    report = await running
    assert report.added == SLOW_POSTS and report.failed == []
    assert during > 10, "the ingest ended before the bot wrote much; the test proved little"
    assert await store.get_meta("probe") == str(during - 1)
