"""Calls to the ingest process's pool (`IngestProcess.executor`, a web blog's page extraction) and the
idle renewals (issue 21): the bot never renews the process while a call is out, renews it once the last
answer is idle_s old, and the next call goes to the fresh one; the pool a call started goes when idle too.

A worker reads a FIFO for its call: it is answered when the test writes it, not after some time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import process_tree
import pytest
from process_tree import alive

from bot.clock import ManualClock
from bot.services.ingest_process import IngestProcess
from bot.store import Store

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree in /proc")


def parse_workers(pid: int) -> set[int]:
    """The living children of the ingest process `pid` but multiprocessing's resource tracker."""
    return {child for child in process_tree.parse_workers(pid) if alive(child)}


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    await process_tree.until(condition, what, timeout_s, every_s=0.05)


async def test_the_process_is_not_renewed_while_a_call_is_out_and_the_next_call_goes_to_the_fresh_one(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "kiji.db")
    clock = ManualClock()
    process = IngestProcess(store, workers=1, idle_s=60, clock=clock)
    try:
        gate = tmp_path / "gate"
        os.mkfifo(gate)
        out = asyncio.wrap_future(process.executor.submit(Path.read_bytes, gate))  # waits for a writer
        child = process.pid
        assert child is not None
        await clock.wait_for_sleepers(1)
        clock.advance(60)  # idle_s pass with the call still out
        await asyncio.sleep(0)  # the idle stop wakes and looks: a call waits
        assert process.pid == child and alive(child) and not out.done()

        await asyncio.to_thread(gate.write_bytes, b"page")
        assert await out == b"page"
        await clock.wait_for_sleepers(1)  # the answer armed the next idle stop
        clock.advance(59)
        await asyncio.sleep(0)
        assert process.pid == child and alive(child)
        clock.advance(1)
        await until(lambda: not alive(child), "the used ingest process to be let go")
        await until(lambda: process.pid not in (None, child), "a fresh ingest process to take its place")
        fresh = process.pid

        worker = await asyncio.get_running_loop().run_in_executor(process.executor, os.getpid)
        assert process.pid == fresh and worker in parse_workers(fresh or 0)
    finally:
        await process.stop()
        await store.close()


async def test_a_pool_started_for_calls_goes_when_idle_and_comes_back_for_the_next_call(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "kiji.db")
    process = IngestProcess(store, workers=1, pool_idle_s=0.2, idle_s=3600)  # the process stays
    try:
        loop = asyncio.get_running_loop()
        worker = await loop.run_in_executor(process.executor, os.getpid)
        child = process.pid
        assert child is not None and worker in parse_workers(child)
        await until(lambda: not parse_workers(child), "the idle pool's worker to go")
        again = await loop.run_in_executor(process.executor, os.getpid)
        assert process.pid == child and again != worker and again in parse_workers(child)
    finally:
        await process.stop()
        await store.close()
