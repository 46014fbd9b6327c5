"""The announcer's pacer: never more than the budget in any rolling second, however tasks arrive."""

from __future__ import annotations

import asyncio
import bisect
import time

from bot.announcer import Pacer


async def test_pacer_keeps_every_rolling_second_under_budget() -> None:
    pacer = Pacer(20, min_gap=0.0)
    released: list[float] = []

    async def sender(count: int) -> None:
        for _ in range(count):
            await pacer.wait()
            released.append(time.monotonic())

    await asyncio.gather(*(sender(9) for _ in range(5)))  # 45 requests from 5 concurrent tasks
    released.sort()
    assert len(released) == 45
    for i, start in enumerate(released):
        in_window = bisect.bisect_left(released, start + 1.0) - i
        assert in_window <= 20, (i, in_window)
