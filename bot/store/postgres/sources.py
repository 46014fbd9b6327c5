"""The blogs the store holds posts of (PostgreSQL twin of `bot.store.sources`)."""

from __future__ import annotations

import asyncpg

from bot.models import BlogSource, blog_label
from bot.sources.specs import redact
from bot.store.sources import UNNAMED

_COLUMNS = (
    "s.id, s.name, s.display, s.title, s.url, s.last_attempt_at, s.last_success_at, s.last_error, s.last_error_at"
)


async def register(db: asyncpg.Connection, name: str, display: str) -> int:
    """The id of source `name`, creating it (or taking over the unnamed source) on first sight."""
    found = await db.fetchval("SELECT id FROM sources WHERE name = $1", name)
    if found is not None:
        await db.execute("UPDATE sources SET display = $1 WHERE id = $2 AND display != $1", display, found)
        return int(found)
    claimed = await db.fetchval(
        "UPDATE sources SET name = $1, display = $2, first_success_at = coalesce(first_success_at, 0) "
        "WHERE name = $3 RETURNING id",
        name,
        display,
        UNNAMED,
    )
    if claimed is not None:
        return int(claimed)
    # Another process (a second shard) may register the same blog at the same moment: its row is this one.
    created = await db.fetchval(
        "INSERT INTO sources (name, display) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id", name, display
    )
    if created is None:
        created = await db.fetchval("SELECT id FROM sources WHERE name = $1", name)
    return int(created)


async def default_source(db: asyncpg.Connection) -> int:
    found = await db.fetchval("SELECT id FROM sources ORDER BY id LIMIT 1")
    if found is not None:
        return int(found)
    return int(await db.fetchval("INSERT INTO sources (name, display) VALUES ($1, '') RETURNING id", UNNAMED))


async def record_success(
    db: asyncpg.Connection, source_id: int, title: str | None, url: str | None, now: float
) -> None:
    await db.execute(
        "UPDATE sources SET title = $1, url = $2, last_attempt_at = $3, last_success_at = $3, last_error = NULL, "
        "last_error_at = NULL, failing_since = NULL, first_success_at = coalesce(first_success_at, $3) WHERE id = $4",
        title,
        url,
        float(now),
        source_id,
    )


async def record_read_started(db: asyncpg.Connection, source_id: int, now: float) -> None:
    await db.execute(
        "UPDATE sources SET first_read_started_at = $1 "
        "WHERE id = $2 AND first_success_at IS NULL AND first_read_started_at IS NULL",
        float(now),
        source_id,
    )


async def record_failure(db: asyncpg.Connection, source_id: int, error: str, now: float) -> None:
    await db.execute(
        "UPDATE sources SET last_attempt_at = $1, last_error = $2, last_error_at = $1, "
        "failing_since = coalesce(failing_since, $1) WHERE id = $3",  # the first failure since the last success
        float(now),
        redact(error),  # the last door before the database, as on SQLite
        source_id,
    )


async def sources(db: asyncpg.Connection, now: float) -> list[BlogSource]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS}, (SELECT count(*) FROM posts p WHERE p.source_id = s.id AND p.date_utc <= $1) AS posts "
        "FROM sources s ORDER BY s.id",
        float(now),
    )
    return [
        BlogSource(
            id=int(row["id"]),
            name=str(row["name"]),
            display=str(row["display"]),
            title=row["title"],
            url=row["url"],
            posts=int(row["posts"]),
            last_attempt_at=row["last_attempt_at"],
            last_success_at=row["last_success_at"],
            last_error=row["last_error"],
            last_error_at=row["last_error_at"],
        )
        for row in rows
    ]


async def labels(db: asyncpg.Connection) -> dict[int, str]:
    rows = await db.fetch("SELECT id, name, display, title FROM sources ORDER BY id")
    return {
        int(row["id"]): blog_label(int(row["id"]), str(row["name"]), str(row["display"]), row["title"]) for row in rows
    }
