"""The ingest's writer starts on the first chunk and then takes, as one batch, what arrived while it wrote.

The writes below are the test's own coroutine, held open with events so that what arrives
during a write is under the test's control; nothing waits on the clock.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.services.write_behind import WriteBehind


class Writer:
    """Records each batch; every write waits for the test to let it finish."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.fail_on: int | None = None

    async def write(self, batch: list[int]) -> None:
        self.batches.append(batch)
        self.started.set()
        await self.release.wait()
        self.release.clear()
        if self.fail_on is not None and self.fail_on in batch:
            raise RuntimeError(f"cannot store {self.fail_on}")

    async def finish_current(self) -> None:
        self.started.clear()
        self.release.set()


async def test_the_first_chunk_is_written_at_once_and_what_came_meanwhile_is_the_next_batch() -> None:
    writer = Writer()
    behind = WriteBehind(writer.write, max_batch=10)
    await behind.add([1, 2])
    await writer.started.wait()
    assert writer.batches == [[1, 2]]  # not waiting for a full batch
    await behind.add([3])
    await behind.add([4, 5])  # both arrive while [1, 2] is being written
    await writer.finish_current()
    await writer.started.wait()
    assert writer.batches == [[1, 2], [3, 4, 5]]
    await writer.finish_current()
    await behind.drain()
    assert writer.batches == [[1, 2], [3, 4, 5]]


async def test_batches_never_exceed_the_maximum_and_keep_the_order() -> None:
    writer = Writer()
    behind = WriteBehind(writer.write, max_batch=3)
    await behind.add([0])
    await writer.started.wait()
    await behind.add([1, 2, 3, 4])
    drained = asyncio.ensure_future(behind.drain())
    while not drained.done():
        await writer.finish_current()
        await asyncio.sleep(0)  # let the writer take the next batch (scheduling, not time)
    await drained
    assert writer.batches == [[0], [1, 2, 3], [4]]


async def test_adding_waits_once_two_full_batches_are_queued() -> None:
    writer = Writer()
    behind = WriteBehind(writer.write, max_batch=2)
    await behind.add([0])
    await writer.started.wait()
    await behind.add([1, 2, 3])  # three queued: below two full batches, returns at once
    blocked = asyncio.ensure_future(behind.add([4]))  # four queued: waits for the writer
    for _ in range(5):
        await asyncio.sleep(0)
    assert not blocked.done()
    while not blocked.done():
        await writer.finish_current()
        await asyncio.sleep(0)
    await blocked
    assert [item for batch in writer.batches for item in batch] == [0, 1, 2, 3, 4]


async def test_a_failed_write_stops_the_next_add_and_the_drain() -> None:
    writer = Writer()
    writer.fail_on = 1
    behind = WriteBehind(writer.write, max_batch=5)
    await behind.add([1])
    await writer.started.wait()
    await writer.finish_current()
    with pytest.raises(RuntimeError, match="cannot store 1"):
        await behind.drain()
    writer.fail_on, writer.batches = 7, []
    behind = WriteBehind(writer.write, max_batch=5)
    await behind.add([7])
    await writer.started.wait()
    await writer.finish_current()
    for _ in range(5):
        await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cannot store 7"):
        await behind.add([8])
    assert writer.batches == [[7]]  # 8 was never written after the failure


async def test_cancel_stops_a_write_in_progress_and_drops_the_queue() -> None:
    writer = Writer()
    behind = WriteBehind(writer.write, max_batch=5)
    await behind.add([1])
    await writer.started.wait()
    await behind.add([2])
    await behind.cancel()
    await behind.drain()
    assert writer.batches == [[1]]


def test_a_batch_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WriteBehind(Writer().write, max_batch=0)
