"""Time as a dependency: what "now" is, and how to wait, come from one injected object.

The pacer, the announcer's back-off and scheduled posts, the post watcher's polling and the
paginator's time-out all ask a `Clock` instead of `time` and `asyncio.sleep`, so a test can
move time forward by an hour in a microsecond and see exactly what happens then, instead
of waiting on the real clock. `SystemClock` is the real one; `ManualClock` only moves when
told to (or, with `autoadvance`, jumps straight to whatever a sleeper waits for).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch: post dates, ledger stamps."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards: rate limits, back-offs, time-outs."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""
        ...


class SystemClock:
    """The real time."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when `advance` is called: sleepers wake in deadline order.

    With `autoadvance`, a sleep moves the clock to its own deadline at once (and yields to the
    loop), for code whose waits are serialised, such as the pacer behind its lock.
    """

    def __init__(self, start: float | None = None, *, autoadvance: bool = False) -> None:
        self._wall_offset = time.time() if start is None else start
        self._elapsed = 0.0
        self.autoadvance = autoadvance
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._sleeping: asyncio.Condition | None = None  # made on first use, inside the loop

    def time(self) -> float:
        return self._wall_offset + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting for the clock to move."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    async def sleep(self, seconds: float) -> None:
        deadline = self._elapsed + max(0.0, seconds)
        if self.autoadvance:
            self._elapsed = max(self._elapsed, deadline)
            await asyncio.sleep(0)
            return
        if deadline <= self._elapsed:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await self._notify()
        try:
            await future
        finally:
            if not future.done():
                future.cancel()

    async def wait_for_sleepers(self, count: int = 1, timeout_s: float = 10.0) -> None:
        """Return once at least `count` sleeps are waiting (a real-time bound: a failing test ends)."""
        condition = self._condition()
        async with condition:
            await asyncio.wait_for(condition.wait_for(lambda: self.sleepers >= count), timeout_s)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake, in deadline order, every sleep that is now due."""
        self._elapsed += seconds
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def _condition(self) -> asyncio.Condition:
        if self._sleeping is None:
            self._sleeping = asyncio.Condition()
        return self._sleeping

    async def _notify(self) -> None:
        condition = self._condition()
        async with condition:
            condition.notify_all()


async def wait_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass on `clock`; True when the event was set."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, timer):
            task.cancel()
        for task in (waiter, timer):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return event.is_set()
