"""The digest ledger: one row per (subscription, period), written before anything is sent.

A digest subscription's posts are queued in the delivery ledger like any other's (the same
rule decides what is news), but the announcer leaves them alone (`pending_deliveries`). When a
period ends, the digest *claims* the subscription's queued posts (`deliveries.digest_id`) in the
same transaction that records the digest with its rendered messages: a post is in exactly one
digest, and a restart finds the same parts to send. Each part goes out with a nonce derived
from (subscription, period, part), so a part Discord created just before a crash is returned,
not posted again; the parts sent are recorded one by one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence

import aiosqlite

from bot.models import Delivery, Digest
from bot.store.sqlhelpers import fetch_all, fetch_one
from bot.store.subscriptions import _deliveries

_COLUMNS = (
    "g.id, g.subscription_id, s.guild_id, s.channel_id, g.period_start, g.period_end, g.state, g.parts, "
    "g.message_ids, g.attempts, g.last_error"
)


def digest_nonce(subscription_id: int, period_start: float, part: int) -> str:
    """Discord's nonce for one part of one period's digest: the same on every retry."""
    key = f"digest:{subscription_id}:{period_start!r}:{part}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()[:25]


def _digest(row: sqlite3.Row) -> Digest:
    return Digest(
        id=row["id"],
        subscription_id=row["subscription_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        state=row["state"],
        parts=tuple(json.loads(row["parts"])),
        message_ids=tuple(int(i) for i in json.loads(row["message_ids"])),
        attempts=row["attempts"],
        last_error=row["last_error"],
    )


async def queued_for_digest(db: aiosqlite.Connection, subscription_id: int) -> list[Delivery]:
    """The subscription's posts queued and not yet in any digest, oldest first."""
    return await _deliveries(
        db, "d.subscription_id = ? AND d.state = 'pending' AND d.digest_id IS NULL", (subscription_id,)
    )


async def digest_for_period(db: aiosqlite.Connection, subscription_id: int, period_start: float) -> Digest | None:
    row = await fetch_one(
        db,
        f"SELECT {_COLUMNS} FROM digests g JOIN subscriptions s ON s.id = g.subscription_id "
        "WHERE g.subscription_id = ? AND g.period_start = ?",
        (subscription_id, period_start),
    )
    return _digest(row) if row else None


async def open_digest(
    db: aiosqlite.Connection,
    subscription_id: int,
    period: tuple[float, float],
    parts: Sequence[dict[str, object]],
    delivery_ids: Sequence[int],
    now: float,
) -> Digest | None:
    """Record the period's digest, pending, claiming `delivery_ids`; None if the period has one already.

    With no parts the period is recorded as `empty`: nothing is sent, and a post queued later
    goes into the next period's digest rather than this one's, late.
    """
    state = "pending" if parts else "empty"
    row = await fetch_one(
        db,
        "INSERT INTO digests (subscription_id, period_start, period_end, state, parts, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (subscription_id, period_start) DO NOTHING RETURNING id",
        (subscription_id, period[0], period[1], state, json.dumps(list(parts), ensure_ascii=False), now),
    )
    if row is None:
        return None
    await db.execute(
        "UPDATE deliveries SET digest_id = ? WHERE subscription_id = ? AND state = 'pending' AND digest_id IS NULL "
        "AND id IN (SELECT value FROM json_each(?))",
        (row["id"], subscription_id, json.dumps(list(delivery_ids))),
    )
    return await digest_for_period(db, subscription_id, period[0])


async def pending_digests(db: aiosqlite.Connection) -> list[Digest]:
    """Digests recorded but not (entirely) sent, of active subscriptions, oldest period first."""
    rows = await fetch_all(
        db,
        f"SELECT {_COLUMNS} FROM digests g JOIN subscriptions s ON s.id = g.subscription_id "
        "WHERE g.state = 'pending' AND s.paused_reason IS NULL ORDER BY s.channel_id, g.period_start, g.id",
    )
    return [_digest(row) for row in rows]


async def record_part_sent(db: aiosqlite.Connection, digest_id: int, part: int, message_id: int) -> None:
    """Part `part` is in Discord as `message_id` (recorded once, whatever a retry does)."""
    await db.execute(
        "UPDATE digests SET message_ids = json_insert(message_ids, '$[#]', ?) "
        "WHERE id = ? AND json_array_length(message_ids) = ?",
        (message_id, digest_id, part),
    )


async def finish_digest(db: aiosqlite.Connection, digest_id: int, now: float) -> None:
    """Every part went out: the digest and the posts it listed are sent (with its first message's id)."""
    row = await fetch_one(
        db,
        "UPDATE digests SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ? "
        "RETURNING subscription_id, json_extract(message_ids, '$[0]') AS first_message",
        (now, digest_id),
    )
    if row is None:
        return
    await db.execute(
        "UPDATE deliveries SET state = 'sent', message_id = ?, sent_at = ?, last_error = NULL "
        "WHERE digest_id = ? AND state = 'pending'",
        (row["first_message"], now, digest_id),
    )
    await db.execute("UPDATE subscriptions SET last_delivery_at = ? WHERE id = ?", (now, row["subscription_id"]))


async def skip_digest(db: aiosqlite.Connection, digest_id: int, reason: str) -> None:
    """Discord refused the digest itself (not the channel): recorded with the reason, the posts too."""
    await db.execute("UPDATE digests SET state = 'skipped', last_error = ? WHERE id = ?", (reason, digest_id))
    await db.execute(
        "UPDATE deliveries SET state = 'skipped', last_error = ? WHERE digest_id = ? AND state = 'pending'",
        (reason, digest_id),
    )


async def record_digest_attempt(db: aiosqlite.Connection, digest_id: int, error: str) -> None:
    await db.execute("UPDATE digests SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, digest_id))


async def digests(db: aiosqlite.Connection, subscription_id: int | None) -> list[Digest]:
    """Every digest recorded (of one subscription, if given), oldest period first: for tests and `kiji`."""
    rows = await fetch_all(
        db,
        f"SELECT {_COLUMNS} FROM digests g JOIN subscriptions s ON s.id = g.subscription_id "
        "WHERE ? IS NULL OR g.subscription_id = ? ORDER BY g.period_start, g.id",
        (subscription_id, subscription_id),
    )
    return [_digest(row) for row in rows]
