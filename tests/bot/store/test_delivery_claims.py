"""Claiming pending deliveries for the sync lease's term: what the lease holder's announcer sends.

On both databases: only the lease's current holder claims, in its term; a claim of an older term
counts for nothing, so the next holder takes over what a dead one had in flight. On PostgreSQL the
claim is `SELECT … FOR UPDATE SKIP LOCKED`: a second claimer skips the rows a first one's open
transaction holds instead of waiting for them (or taking them too).
"""

from __future__ import annotations

import asyncpg
import pytest
from factories import NOW, record

from bot.store import KijiStore
from bot.store.postgres import subscriptions as pg_subscriptions

SYNC = "sync"
SECONDS = 30.0


@pytest.fixture
def store_backend(both_backends: str) -> str:
    return both_backends


async def three_pending(store: KijiStore) -> set[int]:
    for channel in (100, 101, 102):
        await store.subscribe(1, channel, "text", now=NOW)
    await store.write_batch([record("new", "New", "x", date_utc=NOW)], now=NOW + 5)
    await store.enqueue_new_posts(10, now=NOW + 10)
    pending = {d.id for d in await store.pending_deliveries()}
    assert len(pending) == 3
    return pending


async def test_only_the_holder_claims_and_a_new_term_takes_over_the_old_ones_claims(store: KijiStore) -> None:
    pending = await three_pending(store)
    assert await store.take_lease(SYNC, "a", SECONDS, now=NOW) == 1
    assert await store.claim_deliveries(SYNC, "b", 1, now=NOW + 1) == []  # b does not hold the lease
    assert {d.id for d in await store.claim_deliveries(SYNC, "a", 1, now=NOW + 1)} == pending
    assert {d.id for d in await store.claim_deliveries(SYNC, "a", 1, now=NOW + 2)} == pending  # its own, again

    [first, *_] = await store.pending_deliveries()
    await store.mark_sent(first, 555, now=NOW + 3)
    assert await store.claim_deliveries(SYNC, "a", 1, now=NOW + 31) == []  # a's lease expired at NOW + 30
    assert await store.take_lease(SYNC, "b", SECONDS, now=NOW + 31) == 2
    taken = await store.claim_deliveries(SYNC, "b", 2, now=NOW + 32)
    assert {d.id for d in taken} == pending - {first.id}  # a's claims of term 1 count for nothing
    assert await store.claim_deliveries(SYNC, "a", 1, now=NOW + 32) == []  # a wakes up late: nothing for it


async def test_a_second_claimer_skips_the_rows_a_first_one_holds(store: KijiStore, store_backend: str) -> None:
    if store_backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has a single writer")
    pending = await three_pending(store)
    assert await store.take_lease(SYNC, "a", SECONDS, now=NOW) == 1
    first = await asyncpg.connect(store.location.url)
    second = await asyncpg.connect(store.location.url)
    try:
        await second.execute("SET lock_timeout = '5s'")  # waiting on a lock would fail the test, not hang it
        claiming = first.transaction()
        await claiming.start()
        held = await pg_subscriptions.claim_deliveries(first, SYNC, "a", 1, NOW + 1)
        assert {d.id for d in held} == pending
        async with second.transaction():  # the first's transaction is still open: its rows are skipped
            assert await pg_subscriptions.claim_deliveries(second, SYNC, "a", 1, NOW + 1) == []
        await claiming.commit()
        async with second.transaction():  # committed: the same term may claim them again
            again = await pg_subscriptions.claim_deliveries(second, SYNC, "a", 1, NOW + 2)
        assert {d.id for d in again} == pending
    finally:
        await first.close()
        await second.close()
