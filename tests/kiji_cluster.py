"""Several `kiji run` processes on one PostgreSQL store: what the operator-level cluster tests share.

Which process holds the sync lease is read the way an operator reads it (the "holding the sync
lease" log line) and checked against the store's lease row, whose holder names the process's pid.
"""

from __future__ import annotations

import asyncio

from kiji_process import KijiProcess

from bot.store import open_store

HOLDING = "holding the sync lease (term"  # the lease line, not "handed the push for … to the process holding …"


async def ledger_and_lease(url: str) -> tuple[dict[str, int], tuple[str, float, int] | None]:
    """How many deliveries are in each state, and the sync lease's (holder, expiry, term)."""
    store = await open_store(url)
    try:
        states: dict[str, int] = {}
        for delivery in await store.deliveries():
            states[delivery.state] = states.get(delivery.state, 0) + 1
        return states, await store.lease_holder("sync")
    finally:
        await store.close()


async def lease_holder_among(url: str, processes: list[KijiProcess], timeout_s: float = 90.0) -> KijiProcess:
    """The process that logged holding the sync lease first; the store's lease row names its pid."""
    waits = {asyncio.ensure_future(p.wait_for_line(HOLDING, timeout_s)): p for p in processes}
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    first = next(iter(done))
    first.result()  # a timeout or a process that ended says so here
    holder = waits[first]
    _, lease = await ledger_and_lease(url)
    assert lease is not None, "a process logged holding the sync lease, but the store has no lease row"
    assert f":{holder.process.pid}:" in lease[0], (lease, holder.process.pid)
    return holder
