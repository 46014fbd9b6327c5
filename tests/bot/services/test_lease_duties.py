"""LeaseDuties: the holder's work begins when this process gains the sync lease and ends when it loses it.

Two processes' duties on one store (a real SQLite file, two connections), time on a manual clock:
the first begins, the second waits; when the first stops renewing, the second takes over after the
expiry; a clean stop releases the lease so the other takes it at once.
"""

from __future__ import annotations

from pathlib import Path

from bot.clock import ManualClock
from bot.services.lease import LeaseDuties, SyncLease
from bot.store import open_store


class Work:
    """What a bot would start and stop (its sync and announcer), as a record of calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def begin(self) -> None:
        self.calls.append("begin")

    async def end(self) -> None:
        self.calls.append("end")


async def test_duties_follow_the_lease_between_two_processes(tmp_path: Path) -> None:
    clock = ManualClock(start=1000.0)
    location = tmp_path / "kiji.sqlite3"
    stores = [await open_store(location, clock=clock.time), await open_store(location, clock=clock.time)]
    try:
        works = [Work(), Work()]
        duties = [
            LeaseDuties(SyncLease(store, holder=name, seconds=30, clock=clock), work.begin, work.end)
            for store, work, name in zip(stores, works, ("first", "second"), strict=True)
        ]
        await duties[0].check()
        await duties[1].check()
        assert [w.calls for w in works] == [["begin"], []]

        clock.advance(20)
        await duties[0].check()  # renewed: the expiry moves to 1050
        clock.advance(29)
        await duties[1].check()
        assert works[1].calls == []

        clock.advance(1)  # the first stopped renewing (paused, killed): its lease expires
        await duties[1].check()
        assert works[1].calls == ["begin"] and duties[1].lease.generation == 2
        assert not await duties[0].lease.may_send()  # the fence: the first sends nothing more
        await duties[0].check()
        assert works[0].calls == ["begin", "end"]

        await duties[1].stop()  # a clean stop: ends the work and lets the lease go
        assert works[1].calls == ["begin", "end"]
        await duties[0].check()  # taken at once, without waiting for the expiry
        assert works[0].calls == ["begin", "end", "begin"] and duties[0].lease.generation == 3
        await duties[0].stop()
    finally:
        for store in stores:
            await store.close()
