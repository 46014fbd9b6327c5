"""The blogs the store holds posts of: one row per source, with what its last update came to.

A source is known by its name (a resolved folder path, or a git repository's host/path with no
credentials), so the same blog configured again finds its posts. The posts stored before Kiji
had sources belong to an unnamed row (migration 6) that the first source registered takes over.
"""

from __future__ import annotations

import aiosqlite

from bot.models import BlogSource, blog_label
from bot.sources.specs import redact
from bot.store.sqlhelpers import fetch_all, fetch_one

# The row of the posts stored before sources had names (see schema migration 6).
UNNAMED = ""

_COLUMNS = (
    "s.id, s.name, s.display, s.title, s.url, s.last_attempt_at, s.last_success_at, s.last_error, s.last_error_at"
)


async def register(db: aiosqlite.Connection, name: str, display: str) -> int:
    """The id of source `name`, creating it (or taking over the unnamed source) on first sight.

    A new source's first successful read is its back catalogue (`record_success` sets
    first_success_at); what it stores later is news.
    """
    row = await fetch_one(db, "SELECT id FROM sources WHERE name = ?", (name,))
    if row is not None:
        await db.execute("UPDATE sources SET display = ? WHERE id = ? AND display != ?", (display, row["id"], display))
        return int(row["id"])
    # The unnamed source's posts were news as they came, so its first read by name is no baseline.
    claimed = await fetch_one(
        db,
        "UPDATE sources SET name = ?, display = ?, first_success_at = coalesce(first_success_at, 0) "
        "WHERE name = ? RETURNING id",
        (name, display, UNNAMED),
    )
    if claimed is not None:
        return int(claimed["id"])
    created = await fetch_one(db, "INSERT INTO sources (name, display) VALUES (?, ?) RETURNING id", (name, display))
    assert created is not None  # RETURNING of an INSERT that did not fail
    return int(created[0])


async def default_source(db: aiosqlite.Connection) -> int:
    """The first source, created unnamed when there is none: for callers that name no source."""
    row = await fetch_one(db, "SELECT id FROM sources ORDER BY id LIMIT 1")
    if row is not None:
        return int(row["id"])
    created = await fetch_one(db, "INSERT INTO sources (name, display) VALUES (?, ?) RETURNING id", (UNNAMED, ""))
    assert created is not None  # RETURNING of an INSERT that did not fail
    return int(created[0])


async def record_success(
    db: aiosqlite.Connection, source_id: int, title: str | None, url: str | None, now: float
) -> None:
    await db.execute(
        "UPDATE sources SET title = ?, url = ?, last_attempt_at = ?, last_success_at = ?, last_error = NULL, "
        "last_error_at = NULL, failing_since = NULL, first_success_at = coalesce(first_success_at, ?) WHERE id = ?",
        (title, url, now, now, now, source_id),
    )


async def record_read_started(db: aiosqlite.Connection, source_id: int, now: float) -> None:
    """A read of the blog began: if none has succeeded yet, what it stores is the blog's past.

    Kept from the first read that began until one succeeds (`first_success_at`), through failed
    reads: their posts were the blog's existing posts too (see `subscriptions.enqueue_new_posts`).
    """
    await db.execute(
        "UPDATE sources SET first_read_started_at = ? "
        "WHERE id = ? AND first_success_at IS NULL AND first_read_started_at IS NULL",
        (now, source_id),
    )


async def record_failure(db: aiosqlite.Connection, source_id: int, error: str, now: float) -> None:
    """Keep the last success as it was: /about shows both when the blog was last read and why not since.

    The error is redacted once more here, the last door before the database file: whatever a
    source said, no URL's userinfo is kept.
    """
    await db.execute(
        "UPDATE sources SET last_attempt_at = ?, last_error = ?, last_error_at = ?, "
        "failing_since = coalesce(failing_since, ?) WHERE id = ?",  # the first failure since the last success
        (now, redact(error), now, now, source_id),
    )


async def sources(db: aiosqlite.Connection, now: float) -> list[BlogSource]:
    """Every source with its visible post count, in the order they were first seen."""
    rows = await fetch_all(
        db,
        f"SELECT {_COLUMNS}, (SELECT count(*) FROM posts p WHERE p.source_id = s.id AND p.date_utc <= ?) AS posts "
        "FROM sources s ORDER BY s.id",
        (now,),
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


async def labels(db: aiosqlite.Connection) -> dict[int, str]:
    """source id → what people call the blog; unlike `sources`, no post is counted (results and
    announcements ask for it once each)."""
    rows = await fetch_all(db, "SELECT id, name, display, title FROM sources ORDER BY id")
    return {
        int(row["id"]): blog_label(int(row["id"]), str(row["name"]), str(row["display"]), row["title"]) for row in rows
    }
