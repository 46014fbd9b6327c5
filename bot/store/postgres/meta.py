"""Key/value facts about the store itself (PostgreSQL twin of `bot.store.meta`)."""

from __future__ import annotations

import asyncpg


async def get_meta(db: asyncpg.Connection, key: str) -> str | None:
    value = await db.fetchval("SELECT value FROM meta WHERE key = $1", key)
    return None if value is None else str(value)


async def set_meta(db: asyncpg.Connection, key: str, value: str) -> None:
    await db.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key,
        value,
    )
