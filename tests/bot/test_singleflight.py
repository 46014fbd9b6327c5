"""bot.services.singleflight: concurrent callers share one computation, its result or its error.

Tasks start in creation order (asyncio's ready queue is FIFO), so by the time the test
wakes on `started`, every task created before that wait has joined the flight.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.services.singleflight import SingleFlight


async def test_concurrent_callers_share_one_computation() -> None:
    flights = SingleFlight()
    started, release = asyncio.Event(), asyncio.Event()
    runs = 0

    async def make() -> str:
        nonlocal runs
        runs += 1
        mine = runs
        started.set()
        await release.wait()
        return f"result {mine}"

    callers = [asyncio.create_task(flights.run("post 1", make)) for _ in range(20)]
    other = asyncio.create_task(flights.run("post 2", make))
    await started.wait()
    assert "post 1" in flights and "post 2" in flights
    release.set()
    results = await asyncio.gather(*callers)
    assert results == ["result 1"] * 20
    assert await other == "result 2"
    assert runs == 2  # one per key
    assert "post 1" not in flights  # nothing is kept once done: a later call computes afresh
    assert await flights.run("post 1", make) == "result 3"


async def test_waiters_get_the_error_and_the_next_call_retries() -> None:
    flights = SingleFlight()
    started, release = asyncio.Event(), asyncio.Event()
    attempts = 0

    async def failing() -> str:
        nonlocal attempts
        attempts += 1
        started.set()
        await release.wait()
        raise RuntimeError(f"attempt {attempts} failed")

    callers = [asyncio.create_task(flights.run("k", failing)) for _ in range(3)]
    await started.wait()
    release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert [str(o) for o in outcomes] == ["attempt 1 failed"] * 3
    with pytest.raises(RuntimeError, match="attempt 2 failed"):
        await flights.run("k", failing)


async def test_a_cancelled_waiter_does_not_cancel_the_shared_computation() -> None:
    flights = SingleFlight()
    started, release = asyncio.Event(), asyncio.Event()

    async def make() -> int:
        started.set()
        await release.wait()
        return 42

    leader = asyncio.create_task(flights.run("k", make))
    waiter = asyncio.create_task(flights.run("k", make))
    await started.wait()
    waiter.cancel()
    release.set()
    assert await leader == 42
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_cancelling_the_first_caller_leaves_the_others_their_result() -> None:
    flights = SingleFlight()
    started, release = asyncio.Event(), asyncio.Event()

    async def make() -> str:
        started.set()
        await release.wait()
        return "summary"

    first = asyncio.create_task(flights.run("k", make))
    others = [asyncio.create_task(flights.run("k", make)) for _ in range(3)]
    await started.wait()
    first.cancel()
    release.set()
    assert await asyncio.gather(*others) == ["summary"] * 3
    with pytest.raises(asyncio.CancelledError):
        await first
