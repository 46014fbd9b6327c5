"""The sync lease: one row per lease name with its holder, expiry and generation (fencing token).

Several `kiji run` processes share a PostgreSQL store; one of them at a time polls the blogs and
fans out announcements, so Discord's per-token rate is spent by one pacer. The holder renews the
row while it lives; when it stops renewing, the row expires and another process takes it with the
generation raised by one. A holder checks its generation is still the row's before each send: a
process paused past its expiry (a long GC, a suspended VM) finds a newer generation when it wakes
and stops, instead of sending what the new holder already sent. Times come from the caller's
clock (the store's), so tests drive expiry with a manual clock. The SQL is the same on SQLite and
PostgreSQL (`bot.store.postgres.leases` spells the parameters its way).
"""

from __future__ import annotations

import aiosqlite

from bot.models import Delivery
from bot.store import subscriptions
from bot.store.sqlhelpers import fetch_one
from bot.store.store_part import StorePart

TAKE = """
    INSERT INTO leases (name, holder, expires_at, generation) VALUES (?, ?, ?, 1)
    ON CONFLICT (name) DO UPDATE SET
        generation = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ?
                          THEN leases.generation ELSE leases.generation + 1 END,
        holder = excluded.holder,
        expires_at = excluded.expires_at
    WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
    RETURNING generation
"""
HOLDS = "SELECT 1 FROM leases WHERE name = ? AND holder = ? AND generation = ? AND expires_at > ?"
RELEASE = "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND generation = ?"
HOLDER = "SELECT holder, expires_at, generation FROM leases WHERE name = ?"


async def take_lease(db: aiosqlite.Connection, name: str, holder: str, now: float, seconds: float) -> int | None:
    """Take or renew `name` for `seconds` from `now`: its generation, or None while another holds it."""
    row = await fetch_one(db, TAKE, (name, holder, now + seconds, now, now))
    return int(row["generation"]) if row else None


async def lease_holds(db: aiosqlite.Connection, name: str, holder: str, generation: int, now: float) -> bool:
    """Whether `holder` still holds `name` in `generation` at `now` (the check before each send)."""
    return await fetch_one(db, HOLDS, (name, holder, generation, now)) is not None


async def release_lease(db: aiosqlite.Connection, name: str, holder: str, generation: int) -> None:
    """Let `name` go at once (a clean stop): another process need not wait for the expiry."""
    await db.execute(RELEASE, (name, holder, generation))


async def lease_holder(db: aiosqlite.Connection, name: str) -> tuple[str, float, int] | None:
    """(holder, expires_at, generation) of `name`, or None if it was never taken."""
    row = await fetch_one(db, HOLDER, (name,))
    return (str(row["holder"]), float(row["expires_at"]), int(row["generation"])) if row else None


class SyncLeases(StorePart):
    """The store's lease methods (a part of `Store`, which provides `_read`, `_write` and `_now`)."""

    async def take_lease(self, name: str, holder: str, seconds: float, now: float | None = None) -> int | None:
        return await self._write(take_lease, name, holder, self._now(now), seconds)

    async def lease_holds(self, name: str, holder: str, generation: int, now: float | None = None) -> bool:
        return await self._read(lease_holds, name, holder, generation, self._now(now))

    async def release_lease(self, name: str, holder: str, generation: int) -> None:
        await self._write(release_lease, name, holder, generation)

    async def lease_holder(self, name: str) -> tuple[str, float, int] | None:
        return await self._read(lease_holder, name)

    async def claim_deliveries(
        self, name: str, holder: str, generation: int, now: float | None = None
    ) -> list[Delivery]:
        """Pending deliveries claimed for the lease's term `generation` (none once `holder` lost it)."""
        return await self._write(subscriptions.claim_deliveries, name, holder, generation, self._now(now))
