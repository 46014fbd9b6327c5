"""The digest ledger (PostgreSQL twin of `bot.store.digests`).

The same rows and the same rules: a digest is recorded pending with its rendered parts in the
transaction that claims its posts, and its parts are recorded sent one by one. `parts` and
`message_ids` are the same JSON text as on SQLite, read with `jsonb` operators where needed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from bot.models import Delivery, Digest
from bot.store.digests import _COLUMNS, _digest
from bot.store.digests import digest_nonce as digest_nonce
from bot.store.postgres.subscriptions import _deliveries


async def queued_for_digest(db: asyncpg.Connection, subscription_id: int) -> list[Delivery]:
    """The subscription's posts queued and not yet in any digest, oldest first."""
    return await _deliveries(
        db, "d.subscription_id = $1 AND d.state = 'pending' AND d.digest_id IS NULL", (subscription_id,)
    )


async def digest_for_period(db: asyncpg.Connection, subscription_id: int, period_start: float) -> Digest | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM digests g JOIN subscriptions s ON s.id = g.subscription_id "
        "WHERE g.subscription_id = $1 AND g.period_start = $2",
        subscription_id,
        float(period_start),
    )
    return _digest(row) if row else None


async def open_digest(
    db: asyncpg.Connection,
    subscription_id: int,
    period: tuple[float, float],
    parts: Sequence[dict[str, object]],
    delivery_ids: Sequence[int],
    now: float,
) -> Digest | None:
    """Record the period's digest, pending, claiming `delivery_ids`; None if the period has one already."""
    state = "pending" if parts else "empty"
    digest_id = await db.fetchval(
        "INSERT INTO digests (subscription_id, period_start, period_end, state, parts, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subscription_id, period_start) DO NOTHING RETURNING id",
        subscription_id,
        float(period[0]),
        float(period[1]),
        state,
        json.dumps(list(parts), ensure_ascii=False),  # as SQLite stores them
        float(now),
    )
    if digest_id is None:
        return None
    await db.execute(
        "UPDATE deliveries SET digest_id = $1 WHERE subscription_id = $2 AND state = 'pending' "
        "AND digest_id IS NULL AND id = ANY($3::bigint[])",
        digest_id,
        subscription_id,
        list(delivery_ids),
    )
    return await digest_for_period(db, subscription_id, period[0])


async def pending_digests(db: asyncpg.Connection) -> list[Digest]:
    """Digests recorded but not (entirely) sent, of active subscriptions, oldest period first."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM digests g JOIN subscriptions s ON s.id = g.subscription_id "
        "WHERE g.state = 'pending' AND s.paused_reason IS NULL ORDER BY s.channel_id, g.period_start, g.id",
    )
    return [_digest(row) for row in rows]


async def record_part_sent(db: asyncpg.Connection, digest_id: int, part: int, message_id: int) -> None:
    """Part `part` is in Discord as `message_id` (recorded once, whatever a retry does)."""
    await db.execute(
        "UPDATE digests SET message_ids = (message_ids::jsonb || to_jsonb($1::bigint))::text "
        "WHERE id = $2 AND jsonb_array_length(message_ids::jsonb) = $3",
        message_id,
        digest_id,
        part,
    )


async def finish_digest(db: asyncpg.Connection, digest_id: int, now: float) -> None:
    """Every part went out: the digest and the posts it listed are sent (with its first message's id)."""
    row = await db.fetchrow(
        "UPDATE digests SET state = 'sent', sent_at = $1, last_error = NULL WHERE id = $2 "
        "RETURNING subscription_id, (message_ids::jsonb ->> 0)::bigint AS first_message",
        float(now),
        digest_id,
    )
    if row is None:
        return
    await db.execute(
        "UPDATE deliveries SET state = 'sent', message_id = $1, sent_at = $2, last_error = NULL "
        "WHERE digest_id = $3 AND state = 'pending'",
        row["first_message"],
        float(now),
        digest_id,
    )
    await db.execute("UPDATE subscriptions SET last_delivery_at = $1 WHERE id = $2", float(now), row["subscription_id"])


async def skip_digest(db: asyncpg.Connection, digest_id: int, reason: str) -> None:
    """Discord refused the digest itself (not the channel): recorded with the reason, the posts too."""
    await db.execute("UPDATE digests SET state = 'skipped', last_error = $1 WHERE id = $2", reason, digest_id)
    await db.execute(
        "UPDATE deliveries SET state = 'skipped', last_error = $1 WHERE digest_id = $2 AND state = 'pending'",
        reason,
        digest_id,
    )


async def record_digest_attempt(db: asyncpg.Connection, digest_id: int, error: str) -> None:
    await db.execute("UPDATE digests SET attempts = attempts + 1, last_error = $1 WHERE id = $2", error, digest_id)


async def digests(db: asyncpg.Connection, subscription_id: int | None) -> list[Digest]:
    """Every digest recorded (of one subscription, if given), oldest period first."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM digests g JOIN subscriptions s ON s.id = g.subscription_id "
        "WHERE $1::bigint IS NULL OR g.subscription_id = $1 ORDER BY g.period_start, g.id",
        subscription_id,
    )
    return [_digest(row) for row in rows]
