"""The sync lease on PostgreSQL: the same statements as `bot.store.leases`, with $n parameters.

The upsert takes the row lock, so two processes taking an expired lease at once queue on it and
the second one finds it held by the first.
"""

from __future__ import annotations

import asyncpg

from bot.store import leases


def _numbered(sql: str) -> str:
    parts = sql.split("?")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1))


TAKE, HOLDS, RELEASE, HOLDER = (_numbered(sql) for sql in (leases.TAKE, leases.HOLDS, leases.RELEASE, leases.HOLDER))


async def take_lease(db: asyncpg.Connection, name: str, holder: str, now: float, seconds: float) -> int | None:
    generation = await db.fetchval(TAKE, name, holder, now + seconds, now, now)
    return None if generation is None else int(generation)


async def lease_holds(db: asyncpg.Connection, name: str, holder: str, generation: int, now: float) -> bool:
    return await db.fetchval(HOLDS, name, holder, generation, now) is not None


async def release_lease(db: asyncpg.Connection, name: str, holder: str, generation: int) -> None:
    await db.execute(RELEASE, name, holder, generation)


async def lease_holder(db: asyncpg.Connection, name: str) -> tuple[str, float, int] | None:
    row = await db.fetchrow(HOLDER, name)
    return (str(row["holder"]), float(row["expires_at"]), int(row["generation"])) if row else None
