"""A web blog's pages are extracted in the running bot's ingest process, in its pool (`IngestProcess.executor`).

The real child process and its real pool: a fixture page of the shared jekyll build is extracted
there and comes back identical to an extraction in this process; a page that is no post and one
that says it is a post but has no date come back as None and as its PageError; a child killed
mid-call fails the calls that wait with BrokenProcessPool, and the next call starts a new child.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from web_server import FIXTURES

from bot.services.ingest_process import IngestProcess
from bot.sources.web_pages import PageError, read_page
from bot.store import Store

PAGE = FIXTURES / "jekyll" / "2025" / "08" / "29" / "1-connectaiai" / "index.html"
URL = "http://blog.test/2025/08/29/1-connectaiai/"


@pytest.fixture
async def ingester(tmp_path: Path) -> AsyncIterator[IngestProcess]:
    store = await Store.open(tmp_path / "kiji.db")
    process = IngestProcess(store, workers=2)
    try:
        yield process
    finally:
        await process.stop()
        await store.close()


async def in_child(ingester: IngestProcess, *args: object) -> object:
    return await asyncio.get_running_loop().run_in_executor(ingester.executor, read_page, *args)


async def test_a_page_extracted_in_the_ingest_process_pool_is_the_one_extracted_here(
    ingester: IngestProcess,
) -> None:
    body = PAGE.read_bytes()
    here = read_page(body, URL, "utf-8")
    assert here is not None and here.body
    worker = await asyncio.get_running_loop().run_in_executor(ingester.executor, os.getpid)
    assert worker not in (os.getpid(), ingester.pid)  # a worker of the child's pool, not the bot nor the child
    results = await asyncio.gather(*(in_child(ingester, body, URL, "utf-8") for _ in range(6)))
    assert results == [here] * 6  # many calls in flight at once, each answered
    assert await in_child(ingester, b"<html><body><p>an about page</p></body></html>", URL, None) is None
    dateless = b'<html><head><meta property="og:type" content="article"><title>T</title></head></html>'
    with pytest.raises(PageError, match="names no date"):
        await in_child(ingester, dateless, URL, None)


async def test_a_child_killed_during_calls_fails_them_and_the_next_call_starts_a_new_one(
    ingester: IngestProcess,
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    body = PAGE.read_bytes()
    assert await in_child(ingester, body, URL, "utf-8") is not None
    first = ingester.pid
    assert first is not None
    # sent at once, more than its two workers can finish before the child is killed under them
    heavy = body * 40
    expected = read_page(heavy, URL, "utf-8")
    waiting = [asyncio.wrap_future(ingester.executor.submit(read_page, heavy, URL, "utf-8")) for _ in range(8)]
    os.kill(first, signal.SIGKILL)  # as the kernel's OOM killer would
    outcomes = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 60)
    broken = [outcome for outcome in outcomes if isinstance(outcome, BrokenProcessPool)]
    assert broken and all(outcome == expected for outcome in outcomes if outcome not in broken), outcomes
    assert await in_child(ingester, body, URL, "utf-8") is not None  # a new child took over
    assert ingester.pid not in (None, first)
