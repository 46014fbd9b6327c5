"""Key/value facts about the store itself (when ingest last caught up, …)."""

from __future__ import annotations

import aiosqlite

from bot.store.sqlhelpers import fetch_one


async def get_meta(db: aiosqlite.Connection, key: str) -> str | None:
    row = await fetch_one(db, "SELECT value FROM meta WHERE key = ?", (key,))
    return str(row["value"]) if row else None


async def set_meta(db: aiosqlite.Connection, key: str, value: str) -> None:
    await db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
