"""The sync lease in the store: one holder at a time, taken over after expiry with a new generation.

On both databases (SQLite file and a real PostgreSQL), times given explicitly as a manual clock would.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.store import KijiStore, open_store

SYNC = "sync"
SECONDS = 30.0


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """The lease runs on a SQLite file and on a PostgreSQL database."""
    return both_backends


async def test_one_holder_at_a_time_then_the_other_after_expiry(store: KijiStore) -> None:
    assert await store.take_lease(SYNC, "a", SECONDS, now=1000.0) == 1
    assert await store.take_lease(SYNC, "b", SECONDS, now=1000.0) is None  # held by a
    assert await store.take_lease(SYNC, "a", SECONDS, now=1020.0) == 1  # renewed, same term
    assert await store.take_lease(SYNC, "b", SECONDS, now=1049.0) is None  # the renewal moved the expiry to 1050
    assert await store.lease_holds(SYNC, "a", 1, now=1049.0)
    assert await store.lease_holder(SYNC) == ("a", 1050.0, 1)

    assert not await store.lease_holds(SYNC, "a", 1, now=1050.0)  # expired: a must not send any more
    assert await store.take_lease(SYNC, "b", SECONDS, now=1050.0) == 2
    assert not await store.lease_holds(SYNC, "a", 1, now=1051.0)
    assert await store.lease_holds(SYNC, "b", 2, now=1051.0)
    assert await store.take_lease(SYNC, "a", SECONDS, now=1051.0) is None  # a wakes up late: b holds it


async def test_a_holder_that_lapsed_comes_back_in_a_new_term(store: KijiStore) -> None:
    """Nobody took it meanwhile, but sends checked against the old term must still stop."""
    assert await store.take_lease(SYNC, "a", SECONDS, now=0.0) == 1
    assert await store.take_lease(SYNC, "a", SECONDS, now=31.0) == 2
    assert not await store.lease_holds(SYNC, "a", 1, now=32.0)
    assert await store.lease_holds(SYNC, "a", 2, now=32.0)


async def test_a_released_lease_is_taken_at_once(store: KijiStore) -> None:
    assert await store.take_lease(SYNC, "a", SECONDS, now=0.0) == 1
    await store.release_lease(SYNC, "b", 1)  # not b's: nothing happens
    assert await store.take_lease(SYNC, "b", SECONDS, now=1.0) is None
    await store.release_lease(SYNC, "a", 1)
    assert await store.take_lease(SYNC, "b", SECONDS, now=1.0) == 2
    assert not await store.lease_holds(SYNC, "a", 1, now=1.0)


async def test_two_connections_racing_for_an_expired_lease_get_one_holder(store: KijiStore) -> None:
    """Two processes' stores (two connections to the same database) ask at the same moment: one wins."""
    assert await store.take_lease(SYNC, "old", SECONDS, now=0.0) == 1
    others = [await open_store(store.location) for _ in range(4)]
    try:
        won = await asyncio.gather(*(s.take_lease(SYNC, f"p{i}", SECONDS, now=100.0) for i, s in enumerate(others)))
    finally:
        for other in others:
            await other.close()
    assert sorted(won, key=lambda g: g is None) == [2, None, None, None]
    holder, _, generation = await store.lease_holder(SYNC) or ("", 0.0, 0)
    assert generation == 2 and holder == f"p{won.index(2)}"
