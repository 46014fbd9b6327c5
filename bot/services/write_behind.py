"""Feed the store's one writer in batches as large as what arrived while it was busy.

An ingest parses in a pool and writes through one connection. Writing fixed batches of 512
made the writer wait for the first 512 posts to be parsed, then left the last batch to be
written alone after the pool had finished: on two cores, half a second of a five-second cold
ingest with nothing else running. Here the writer starts on the first chunk that arrives and
then takes whatever came in meanwhile (up to `max_batch`), so it is never idle while there
is something to write and what is left after the last chunk is at most what came during one
write. Each batch is still one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["WriteBehind"]

T = TypeVar("T")


class WriteBehind(Generic[T]):
    """`add` hands items over and returns at once; one task writes them, batch after batch, in order."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]], max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._write = write
        self.max_batch = max_batch
        self._pending: list[T] = []
        self._pump: asyncio.Task[None] | None = None

    async def add(self, items: Sequence[T]) -> None:
        """Queue `items`; waits only when two full batches are already waiting (parsing outran writing).

        Raises what a batch written since the last call raised: the ingest stops at it.
        """
        self._pending.extend(items)
        if self._pump is not None and not self._pump.done():
            if len(self._pending) >= 2 * self.max_batch:
                await self._pump  # parsing goes on in the pool meanwhile; only absorbing waits
            return
        if self._pump is not None:
            self._pump.result()  # the last write's error, if it failed
        if self._pending:
            self._pump = asyncio.create_task(self._drain_pending(), name="kiji-write-behind")

    async def drain(self) -> None:
        """Write everything queued; raises the first write's error."""
        if self._pump is not None:
            await self._pump  # it ends only when nothing is left queued, or on an error
            self._pump = None

    async def cancel(self) -> None:
        """Stop writing (the ingest was cancelled or failed): a batch being written is rolled back by the store."""
        self._pending.clear()
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    async def _drain_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            await self._write(batch)
