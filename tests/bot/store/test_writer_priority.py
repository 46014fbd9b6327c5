"""In the bot, the store's writer thread runs at a lower priority than the threads that read.

On two cores an ingest batch in the writer's thread competed with the reads answering members'
commands: `bench.latency_during_ingest` measured /tag's p99 at 3× its idle figure. The bot lowers
the writer thread alone; reads, and the event loop, keep their priority.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from bot_harness import connection_thread_niceness

from bot.store import Store

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="thread niceness is per thread on Linux only"
)


async def test_lowering_the_writer_leaves_readers_and_the_loop_alone(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "kiji.sqlite3")
    try:
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert await store.database.write(connection_thread_niceness) == before
        assert await store.lower_writer_priority(before + 7)
        assert await store.database.write(connection_thread_niceness) == before + 7
        for _ in range(4):  # every reader of the pool, whichever is idle
            assert await store.database.read(connection_thread_niceness) == before
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    finally:
        await store.close()
