"""Concurrent requests for the same derived value share one computation.

An announcement goes to every subscribed channel at once, and each channel's embed needs
the post's summary: without this, a fan-out to a thousand channels would summarise the
same post a thousand times before the first result reached the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class SingleFlight:
    """`run(key, make)`: the first caller for `key` runs `make`; callers arriving meanwhile get its outcome."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[object]] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._running

    async def run(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is not None:
            # shield: a waiter that is cancelled must not cancel the computation the others share
            return await asyncio.shield(running)  # type: ignore[return-value]
        outcome: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._running[key] = outcome
        try:
            result = await make()
        except asyncio.CancelledError:
            outcome.cancel()
            raise
        except BaseException as exc:
            outcome.set_exception(exc)
            outcome.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        else:
            outcome.set_result(result)
            return result
        finally:
            del self._running[key]
