"""Notices that a blog stopped (and started again) updating (PostgreSQL twin of `bot.store.notices`).

The same key (blog, channel, failure, kind), unique, written pending before anything is sent,
with the same nonce: a restart, a second round or a second process never says it twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from bot.models import Notice
from bot.store.notices import _RECOVERED, _notice
from bot.store.notices import notice_nonce as notice_nonce

_INSERT = (
    "INSERT INTO notices (source_id, guild_id, channel_id, failing_since, kind, state, reason, nonce, created_at) "
    "SELECT source_id, guild_id, channel_id, failing_since, kind, 'pending', reason, nonce, created_at "
    "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::float8[], $5::text[], $6::text[], $7::text[], "
    "$8::float8[]) AS n (source_id, guild_id, channel_id, failing_since, kind, reason, nonce, created_at) "
    "ON CONFLICT (source_id, channel_id, failing_since, kind) DO NOTHING"
)
# SQLite's _DOWN_TARGETS, with the configured blogs as one array parameter.
_DOWN_TARGETS = (
    "SELECT DISTINCT src.id AS source_id, s.guild_id, coalesce(ns.channel_id, s.channel_id) AS channel_id, "
    "src.failing_since, src.last_error FROM sources src "
    "JOIN subscriptions s ON (s.source_id IS NULL OR s.source_id = src.id) AND s.paused_reason IS NULL "
    "LEFT JOIN notice_settings ns ON ns.guild_id = s.guild_id "
    "WHERE src.failing_since IS NOT NULL AND src.failing_since <= $1 "
    "AND src.id = ANY($2::bigint[]) AND coalesce(ns.enabled, 1) = 1 "
    "AND (ns.channel_id IS NOT NULL OR s.channel_kind != 'forum') ORDER BY source_id, channel_id"
)


async def plan_notices(
    db: asyncpg.Connection, configured: Sequence[int], failing_before: float, now: float
) -> tuple[int, int]:
    """Queue the notices that became due, in one transaction; returns (down, up) queued."""
    await db.execute(
        "UPDATE notices SET state = 'skipped', last_error = 'notices were turned off in this server' "
        "WHERE state = 'pending' AND guild_id IN (SELECT guild_id FROM notice_settings WHERE enabled = 0)"
    )
    await db.execute(
        "UPDATE notices SET state = 'skipped', last_error = 'the blog updated again before the notice went out' "
        f"WHERE kind = 'down' AND state = 'pending' AND id IN (SELECT n.id FROM notices n "
        f"JOIN sources src ON src.id = n.source_id WHERE {_RECOVERED})"
    )
    down = await db.fetch(_DOWN_TARGETS, float(failing_before), sorted(set(configured)))
    up = await db.fetch(
        "SELECT n.source_id, n.guild_id, n.channel_id, n.failing_since FROM notices n "
        "JOIN sources src ON src.id = n.source_id LEFT JOIN notice_settings ns ON ns.guild_id = n.guild_id "
        f"WHERE n.kind = 'down' AND n.state = 'sent' AND {_RECOVERED} AND coalesce(ns.enabled, 1) = 1 "
        "AND NOT EXISTS (SELECT 1 FROM notices u WHERE u.kind = 'up' AND u.source_id = n.source_id "
        "AND u.channel_id = n.channel_id AND u.failing_since = n.failing_since) "
        "ORDER BY n.id",
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
                float(now),
            )
            for row in found
        ]
        if not rows:
            queued.append(0)
            continue
        status = await db.execute(_INSERT, *(list(column) for column in zip(*rows, strict=True)))
        queued.append(int(status.rsplit(" ", 1)[-1]))
    return queued[0], queued[1]


async def notices(db: asyncpg.Connection, state: str | None) -> list[Notice]:
    """Notices (in `state`, if given) in the order they were queued."""
    rows = await db.fetch(
        "SELECT n.id, n.source_id, n.guild_id, n.channel_id, n.failing_since, n.kind, n.state, n.reason, n.nonce, "
        "src.name, src.display, src.title, src.last_success_at FROM notices n JOIN sources src ON src.id = n.source_id "
        "WHERE $1::text IS NULL OR n.state = $1 ORDER BY n.id",
        state,
    )
    return [_notice(row) for row in rows]


async def mark_notice_sent(db: asyncpg.Connection, notice_id: int, message_id: int, now: float) -> None:
    await db.execute(
        "UPDATE notices SET state = 'sent', message_id = $1, sent_at = $2, last_error = NULL WHERE id = $3",
        message_id,
        float(now),
        notice_id,
    )


async def skip_notice(db: asyncpg.Connection, notice_id: int, reason: str) -> None:
    await db.execute("UPDATE notices SET state = 'skipped', last_error = $1 WHERE id = $2", reason, notice_id)


async def record_notice_attempt(db: asyncpg.Connection, notice_id: int, error: str) -> None:
    await db.execute("UPDATE notices SET last_error = $1 WHERE id = $2", error, notice_id)


async def set_notice_settings(
    db: asyncpg.Connection, guild_id: int, enabled: bool, channel_id: int | None, now: float
) -> None:
    await db.execute(
        "INSERT INTO notice_settings (guild_id, enabled, channel_id, updated_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (guild_id) DO UPDATE SET enabled = excluded.enabled, channel_id = excluded.channel_id, "
        "updated_at = excluded.updated_at",
        guild_id,
        int(enabled),
        channel_id,
        float(now),
    )


async def notice_settings(db: asyncpg.Connection, guild_id: int) -> tuple[bool, int | None]:
    """(notices on, the channel they go to or None for the subscribed ones) of one server."""
    row = await db.fetchrow("SELECT enabled, channel_id FROM notice_settings WHERE guild_id = $1", guild_id)
    return (True, None) if row is None else (bool(row["enabled"]), row["channel_id"])
