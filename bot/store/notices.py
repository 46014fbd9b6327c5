"""Notices that a blog stopped updating, and that it updates again: planned and recorded here.

A source's `failing_since` is the first failure since its last success (`sources.record_failure`).
Once it is older than the threshold, each server following the blog gets one `down` notice per
channel (the subscribed text channels, or the one channel the server named); once the blog is
read again, each channel that got a `down` gets one `up`. The key (blog, channel, failure,
kind) is unique and rows are written *pending* before anything is sent, with a nonce from the
same key: a restart, a second round or a second bot process never says it twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence

import aiosqlite

from bot.models import Notice, blog_label
from bot.store.sqlhelpers import fetch_all, fetch_one

_INSERT = (
    "INSERT OR IGNORE INTO notices (source_id, guild_id, channel_id, failing_since, kind, state, reason, nonce, "
    "created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)"
)
# Where a server's notices about a blog go: the channel it named, else each active text
# subscription following the blog (a forum would need a thread of its own for each notice).
_DOWN_TARGETS = (
    "SELECT DISTINCT src.id AS source_id, s.guild_id, coalesce(ns.channel_id, s.channel_id) AS channel_id, "
    "src.failing_since, src.last_error FROM sources src "
    "JOIN subscriptions s ON (s.source_id IS NULL OR s.source_id = src.id) AND s.paused_reason IS NULL "
    "LEFT JOIN notice_settings ns ON ns.guild_id = s.guild_id "
    "WHERE src.failing_since IS NOT NULL AND src.failing_since <= ? "
    "AND src.id IN (SELECT value FROM json_each(?)) AND coalesce(ns.enabled, 1) = 1 "
    "AND (ns.channel_id IS NOT NULL OR s.channel_kind != 'forum')"
)
# A blog read again since the failure a `down` notice was about (`failing_since` is cleared by a
# success, so a different or no value means it recovered, even if it fails anew since).
_RECOVERED = "coalesce(src.failing_since, -1) != n.failing_since AND src.last_success_at >= n.failing_since"


def notice_nonce(source_id: int, channel_id: int, failing_since: float, kind: str) -> str:
    key = f"notice:{source_id}:{channel_id}:{failing_since!r}:{kind}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()[:25]


async def plan_notices(
    db: aiosqlite.Connection, configured: Sequence[int], failing_before: float, now: float
) -> tuple[int, int]:
    """Queue the notices that became due, in one transaction; returns (down, up) queued.

    Blogs failing since before `failing_before` get `down` notices; those that recovered get
    `up` notices where a `down` went out. A `down` not yet sent when its blog recovers is
    dropped (and no `up` follows); a server that turned notices off gets none of its pending ones.
    """
    await db.execute(
        "UPDATE notices SET state = 'skipped', last_error = 'notices were turned off in this server' "
        "WHERE state = 'pending' AND guild_id IN (SELECT guild_id FROM notice_settings WHERE enabled = 0)"
    )
    await db.execute(
        "UPDATE notices SET state = 'skipped', last_error = 'the blog updated again before the notice went out' "
        f"WHERE kind = 'down' AND state = 'pending' AND id IN (SELECT n.id FROM notices n "
        f"JOIN sources src ON src.id = n.source_id WHERE {_RECOVERED})"
    )
    down = await fetch_all(db, _DOWN_TARGETS, (failing_before, json.dumps(sorted(set(configured)))))
    up = await fetch_all(
        db,
        "SELECT n.source_id, n.guild_id, n.channel_id, n.failing_since FROM notices n "
        "JOIN sources src ON src.id = n.source_id LEFT JOIN notice_settings ns ON ns.guild_id = n.guild_id "
        f"WHERE n.kind = 'down' AND n.state = 'sent' AND {_RECOVERED} AND coalesce(ns.enabled, 1) = 1 "
        "AND NOT EXISTS (SELECT 1 FROM notices u WHERE u.kind = 'up' AND u.source_id = n.source_id "
        "AND u.channel_id = n.channel_id AND u.failing_since = n.failing_since)",
    )
    queued = []
    for kind, found in (("down", down), ("up", up)):
        rows = [
            (
                row["source_id"],
                row["guild_id"],
                row["channel_id"],
                row["failing_since"],
                kind,
                row["last_error"] if kind == "down" else None,
                notice_nonce(row["source_id"], row["channel_id"], row["failing_since"], kind),
                now,
            )
            for row in found
        ]
        cursor = await db.executemany(_INSERT, rows)
        queued.append(max(cursor.rowcount, 0) if rows else 0)
    return queued[0], queued[1]


def _notice(row: sqlite3.Row) -> Notice:
    return Notice(
        id=row["id"],
        source_id=row["source_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        failing_since=row["failing_since"],
        kind=row["kind"],
        state=row["state"],
        reason=row["reason"],
        nonce=row["nonce"],
        blog=blog_label(row["source_id"], row["name"], row["display"], row["title"]),
        last_success_at=row["last_success_at"],
    )


async def notices(db: aiosqlite.Connection, state: str | None) -> list[Notice]:
    """Notices (in `state`, if given) in the order they were queued."""
    rows = await fetch_all(
        db,
        "SELECT n.id, n.source_id, n.guild_id, n.channel_id, n.failing_since, n.kind, n.state, n.reason, n.nonce, "
        "src.name, src.display, src.title, src.last_success_at FROM notices n JOIN sources src ON src.id = n.source_id "
        "WHERE ? IS NULL OR n.state = ? ORDER BY n.id",
        (state, state),
    )
    return [_notice(row) for row in rows]


async def mark_notice_sent(db: aiosqlite.Connection, notice_id: int, message_id: int, now: float) -> None:
    await db.execute(
        "UPDATE notices SET state = 'sent', message_id = ?, sent_at = ?, last_error = NULL WHERE id = ?",
        (message_id, now, notice_id),
    )


async def skip_notice(db: aiosqlite.Connection, notice_id: int, reason: str) -> None:
    await db.execute("UPDATE notices SET state = 'skipped', last_error = ? WHERE id = ?", (reason, notice_id))


async def record_notice_attempt(db: aiosqlite.Connection, notice_id: int, error: str) -> None:
    await db.execute("UPDATE notices SET last_error = ? WHERE id = ?", (error, notice_id))


async def set_notice_settings(
    db: aiosqlite.Connection, guild_id: int, enabled: bool, channel_id: int | None, now: float
) -> None:
    await db.execute(
        "INSERT INTO notice_settings (guild_id, enabled, channel_id, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id) DO UPDATE SET enabled = excluded.enabled, channel_id = excluded.channel_id, "
        "updated_at = excluded.updated_at",
        (guild_id, int(enabled), channel_id, now),
    )


async def notice_settings(db: aiosqlite.Connection, guild_id: int) -> tuple[bool, int | None]:
    """(notices on, the channel they go to or None for the subscribed ones) of one server."""
    row = await fetch_one(db, "SELECT enabled, channel_id FROM notice_settings WHERE guild_id = ?", (guild_id,))
    return (True, None) if row is None else (bool(row["enabled"]), row["channel_id"])
