"""Concurrent requests for the same derived value share one computation.

An announcement goes to every subscribed channel at once, and each channel's embed needs
the post's summary: without this, a fan-out to a thousand channels would summarise the
same post a thousand times before the first result reached the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class SingleFlight:
    """`run(key, make)`: the first caller for `key` starts `make()`; callers arriving meanwhile share its outcome.

    The computation runs in its own task and every caller, the first included, waits for it
    through `shield`: a caller that is cancelled (an interaction that timed out) leaves the
    computation, and everyone else waiting on it, untouched.
    """

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[Any]] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._running

    def __len__(self) -> int:
        """Computations running now: a key is forgotten as soon as its computation ends."""
        return len(self._running)

    async def run(self, key: Hashable, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(make())
            self._running[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)  # type: ignore[no-any-return]

    def _forget(self, key: Hashable, done: asyncio.Task[Any]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: no "never retrieved" warning when every caller left
