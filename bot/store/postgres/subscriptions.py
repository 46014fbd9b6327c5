"""Channel subscriptions and the delivery ledger (PostgreSQL twin of `bot.store.subscriptions`).

The same ledger: a (subscription, post) pair is written pending before anything is sent and
marked sent with Discord's message id afterwards, with the same deterministic nonce.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from bot.models import DEFAULT_PLACEMENT, Delivery, Placement, Subscription, blog_label
from bot.store.subscriptions import (
    _DELIVERY_COLUMNS,
    _SUBSCRIPTION_COLUMNS,
    BLOG_NOT_CONFIGURED,
    _delivery,
    _keys,
    _subscription,
)
from bot.store.subscriptions import delivery_nonce as delivery_nonce

# SQLite's MATCHES_SUBSCRIPTION with the JSON arrays read by jsonb_array_elements_text.
MATCHES_SUBSCRIPTION = (
    "((s.source_id IS NULL OR s.source_id = p.source_id) AND "
    "((s.tags = '[]' AND s.categories = '[]') "
    "OR EXISTS (SELECT 1 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
    "           WHERE pt.post_id = p.id AND t.key IN (SELECT jsonb_array_elements_text(s.tags::jsonb))) "
    "OR EXISTS (SELECT 1 FROM post_categories pc JOIN categories c ON c.id = pc.category_id "
    "           WHERE pc.post_id = p.id AND c.key IN (SELECT jsonb_array_elements_text(s.categories::jsonb)))))"
)
_INSERT_DELIVERIES = (
    "INSERT INTO deliveries (subscription_id, source_id, post_path, post_id, post_date_utc, state, nonce, created_at) "
    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::float8[], $6::text[], "
    "$7::text[], $8::float8[]) ON CONFLICT (subscription_id, source_id, post_path) DO NOTHING"
)


def _count(status: str) -> int:
    """The row count of a command status such as 'DELETE 1' or 'INSERT 0 3'."""
    return int(status.rsplit(" ", 1)[-1])


# -- subscriptions -------------------------------------------------------------------


async def subscribe(
    db: asyncpg.Connection,
    guild_id: int,
    channel_id: int,
    channel_kind: str,
    tags: Sequence[str],
    categories: Sequence[str],
    mention_role_id: int | None,
    created_by: int | None,
    now: float,
    source_id: int | None = None,
    layout: str = "embed",
    template: str | None = None,
    timezone: str | None = None,
    placement: Placement = DEFAULT_PLACEMENT,
    digest: tuple[str, int, int] = ("off", 9, 0),
) -> Subscription:
    await db.execute(
        "INSERT INTO subscriptions (guild_id, channel_id, channel_kind, tags, categories, mention_role_id, "
        "created_at, created_by, source_id, layout, template, timezone, delivery, webhook_id, thread, "
        "thread_name, forum_tag_id, digest, digest_hour, digest_weekday) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) "
        "ON CONFLICT (channel_id) DO UPDATE SET "
        "channel_kind = excluded.channel_kind, tags = excluded.tags, categories = excluded.categories, "
        "mention_role_id = excluded.mention_role_id, source_id = excluded.source_id, layout = excluded.layout, "
        "template = excluded.template, timezone = excluded.timezone, delivery = excluded.delivery, "
        "webhook_id = excluded.webhook_id, thread = excluded.thread, thread_name = excluded.thread_name, "
        "forum_tag_id = excluded.forum_tag_id, digest = excluded.digest, digest_hour = excluded.digest_hour, "
        "digest_weekday = excluded.digest_weekday, paused_reason = NULL, paused_at = NULL, "
        "created_at = CASE WHEN (subscriptions.tags, subscriptions.categories, subscriptions.source_id) "
        "IS NOT DISTINCT FROM (excluded.tags, excluded.categories, excluded.source_id) "
        "THEN subscriptions.created_at ELSE excluded.created_at END",
        guild_id,
        channel_id,
        channel_kind,
        _keys(tags),
        _keys(categories),
        mention_role_id,
        float(now),
        created_by,
        source_id,
        layout,
        template,
        timezone,
        placement.delivery,
        placement.webhook_id,
        int(placement.thread),
        placement.thread_name,
        placement.forum_tag_id,
        *digest,
    )
    subscription = await subscription_for_channel(db, channel_id)
    assert subscription is not None  # written just above, in the same transaction
    return subscription


async def set_webhook(db: asyncpg.Connection, subscription_id: int, webhook_id: int | None) -> None:
    await db.execute("UPDATE subscriptions SET webhook_id = $1 WHERE id = $2", webhook_id, subscription_id)


async def unsubscribe(db: asyncpg.Connection, guild_id: int, channel_id: int) -> bool:
    status = await db.execute("DELETE FROM subscriptions WHERE guild_id = $1 AND channel_id = $2", guild_id, channel_id)
    return _count(status) > 0


async def subscriptions(db: asyncpg.Connection, guild_id: int | None) -> list[Subscription]:
    rows = await db.fetch(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE $1::bigint IS NULL OR guild_id = $1 ORDER BY id",
        guild_id,
    )
    return [_subscription(row) for row in rows]


async def subscription_for_channel(db: asyncpg.Connection, channel_id: int) -> Subscription | None:
    row = await db.fetchrow(f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE channel_id = $1", channel_id)
    return _subscription(row) if row else None


async def pause_subscription(db: asyncpg.Connection, subscription_id: int, reason: str, now: float) -> None:
    await db.execute(
        "UPDATE subscriptions SET paused_reason = $1, paused_at = $2 WHERE id = $3 AND paused_reason IS NULL",
        reason,
        float(now),
        subscription_id,
    )


async def resume_subscription(db: asyncpg.Connection, guild_id: int, channel_id: int) -> bool:
    status = await db.execute(
        "UPDATE subscriptions SET paused_reason = NULL, paused_at = NULL WHERE guild_id = $1 AND channel_id = $2",
        guild_id,
        channel_id,
    )
    return _count(status) > 0


async def follow_configured_blogs(
    db: asyncpg.Connection, configured: Sequence[int], now: float
) -> tuple[list[int], list[int]]:
    """Pause the subscriptions to a blog no longer configured, resume those whose blog is back."""
    ids = sorted(set(configured))
    rows = await db.fetch(
        "SELECT s.id, src.id AS source_id, src.name, src.display, src.title FROM subscriptions s "
        "JOIN sources src ON src.id = s.source_id "
        "WHERE s.paused_reason IS NULL AND NOT (s.source_id = ANY($1::bigint[])) ORDER BY s.id",
        ids,
    )
    paused = []
    for row in rows:
        blog = blog_label(row["source_id"], row["name"], row["display"], row["title"])
        reason = json.dumps({"key": BLOG_NOT_CONFIGURED, "values": {"blog": blog}}, ensure_ascii=False, sort_keys=True)
        await pause_subscription(db, row["id"], reason, now)
        paused.append(int(row["id"]))
    # a pause reason is JSON or plain text (older ones): read here, where a plain one is no error
    candidates = await db.fetch(
        "SELECT id, paused_reason FROM subscriptions WHERE paused_reason IS NOT NULL "
        "AND source_id = ANY($1::bigint[]) ORDER BY id",
        ids,
    )
    resumed = [int(row["id"]) for row in candidates if _reason_key(row["paused_reason"]) == BLOG_NOT_CONFIGURED]
    await db.execute(
        "UPDATE subscriptions SET paused_reason = NULL, paused_at = NULL WHERE id = ANY($1::bigint[])", resumed
    )
    return paused, resumed


def _reason_key(reason: str) -> object:
    try:
        value = json.loads(reason)
    except ValueError:
        return None
    return value.get("key") if isinstance(value, dict) else None


async def still_matches(db: asyncpg.Connection, subscription_id: int, post_id: int) -> bool:
    found = await db.fetchval(
        f"SELECT 1 FROM subscriptions s JOIN posts p ON p.id = $1 WHERE s.id = $2 AND {MATCHES_SUBSCRIPTION}",
        post_id,
        subscription_id,
    )
    return found is not None


# -- the delivery ledger -------------------------------------------------------------


async def _insert(db: asyncpg.Connection, rows: list[tuple[object, ...]]) -> int:
    if not rows:
        return 0
    return _count(await db.execute(_INSERT_DELIVERIES, *(list(column) for column in zip(*rows, strict=True))))


async def enqueue_new_posts(db: asyncpg.Connection, max_burst: int, now: float) -> dict[int, tuple[int, int]]:
    """Pending (or, past `max_burst` per subscription, skipped) deliveries for newly visible posts."""
    rows = await db.fetch(
        "SELECT s.id AS subscription_id, p.id AS post_id, p.source_id, p.path, p.date_utc "
        "FROM subscriptions s JOIN posts p ON p.date_utc <= $1 JOIN sources src ON src.id = p.source_id "
        "WHERE p.silent = 0 "  # a blog's archive is its past, never news
        "AND greatest(p.first_seen_at, p.date_utc) > greatest(s.created_at, coalesce(src.first_success_at, 0)) "
        "AND (src.first_success_at IS NOT NULL OR src.first_read_started_at IS NULL) "  # as on SQLite
        f"AND {MATCHES_SUBSCRIPTION} AND NOT EXISTS (SELECT 1 FROM deliveries d "
        "WHERE d.subscription_id = s.id AND d.source_id = p.source_id AND d.post_path = p.path) "
        # a post that went and came back under another name, with the bytes it was announced with
        "AND NOT EXISTS (SELECT 1 FROM posts_gone g JOIN deliveries d ON d.subscription_id = s.id "
        "AND d.source_id = g.source_id AND d.post_path = g.path "
        "WHERE g.source_id = p.source_id AND g.content_hash = p.content_hash) "
        "ORDER BY s.id, p.date_utc DESC, p.id DESC",
        float(now),
    )
    inserts: list[tuple[object, ...]] = []
    outcome: dict[int, tuple[int, int]] = {}
    rank: dict[int, int] = {}
    for row in rows:
        subscription_id, source_id, path = row["subscription_id"], row["source_id"], row["path"]
        position = rank.get(subscription_id, 0)
        rank[subscription_id] = position + 1
        state = "pending" if position < max_burst else "skipped"
        nonce = delivery_nonce(subscription_id, path, source_id)
        inserts.append((subscription_id, source_id, path, row["post_id"], row["date_utc"], state, nonce, float(now)))
        queued, skipped = outcome.get(subscription_id, (0, 0))
        outcome[subscription_id] = (queued + 1, skipped) if state == "pending" else (queued, skipped + 1)
    await _insert(db, inserts)
    return outcome


async def backfill(db: asyncpg.Connection, subscription_id: int, count: int, now: float) -> int:
    """Queue the `count` latest matching visible posts, all in the caller's one transaction."""
    rows = await db.fetch(
        "SELECT p.id, p.source_id, p.path, p.date_utc FROM subscriptions s JOIN posts p ON p.date_utc <= $1 "
        f"WHERE s.id = $2 AND {MATCHES_SUBSCRIPTION} ORDER BY p.date_utc DESC, p.id DESC LIMIT $3",
        float(now),
        subscription_id,
        count,
    )
    return await _insert(
        db,
        [
            (
                subscription_id,
                r["source_id"],
                r["path"],
                r["id"],
                r["date_utc"],
                "pending",
                delivery_nonce(subscription_id, r["path"], r["source_id"]),
                float(now),
            )
            for r in rows
        ],
    )


SENDABLE = "d.state = 'pending' AND s.paused_reason IS NULL AND s.digest = 'off' AND d.digest_id IS NULL"


async def _deliveries(db: asyncpg.Connection, where: str, params: Sequence[object], limit: int = -1) -> list[Delivery]:
    rows = await db.fetch(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
        f"WHERE {where} ORDER BY s.channel_id, d.post_date_utc, d.id LIMIT ${len(params) + 1}",
        *params,
        None if limit < 0 else limit,
    )
    return [_delivery(row) for row in rows]


async def pending_deliveries(db: asyncpg.Connection, limit: int) -> list[Delivery]:
    """What the announcer sends one by one: not the posts a digest collects (bot.store.postgres.digests)."""
    return await _deliveries(db, SENDABLE, (), limit)


async def claim_deliveries(
    db: asyncpg.Connection, lease: str, holder: str, generation: int, now: float
) -> list[Delivery]:
    """The pending deliveries, claimed for the sync lease's term `generation` in this write's transaction.

    `FOR UPDATE SKIP LOCKED`: a row another transaction is claiming (or marking sent) is skipped, not
    waited for, so two claimers in the window around a failover never both take it. Nothing is claimed
    unless `holder` holds the lease in that term at `now`, and a claim of an older term counts for nothing
    (its holder is fenced): the new holder takes over what a dead one had in flight.
    """
    claimed = await db.fetch(
        f"""
        WITH claimable AS (
            SELECT d.id FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
            WHERE {SENDABLE} AND (d.claimed_generation IS NULL OR d.claimed_generation <= $3)
              AND EXISTS (SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND generation = $3 AND expires_at > $4)
            FOR UPDATE OF d SKIP LOCKED
        )
        UPDATE deliveries SET claimed_generation = $3 FROM claimable WHERE deliveries.id = claimable.id
        RETURNING deliveries.id
        """,
        lease,
        holder,
        generation,
        float(now),
    )
    return await _deliveries(db, "d.id = ANY($1::bigint[])", ([row["id"] for row in claimed],))


async def deliveries(db: asyncpg.Connection, post_id: int | None, channel_id: int | None) -> list[Delivery]:
    return await _deliveries(
        db,
        "($1::bigint IS NULL OR d.post_id = $1) AND ($2::bigint IS NULL OR s.channel_id = $2)",
        (post_id, channel_id),
    )


async def record_attempt(db: asyncpg.Connection, delivery_id: int, error: str | None) -> None:
    await db.execute("UPDATE deliveries SET attempts = attempts + 1, last_error = $1 WHERE id = $2", error, delivery_id)


async def mark_skipped(db: asyncpg.Connection, delivery_id: int, reason: str) -> None:
    await db.execute("UPDATE deliveries SET state = 'skipped', last_error = $1 WHERE id = $2", reason, delivery_id)


async def mark_sent(db: asyncpg.Connection, delivery: Delivery, message_id: int, now: float) -> None:
    await db.execute(
        "UPDATE deliveries SET state = 'sent', message_id = $1, sent_at = $2, last_error = NULL WHERE id = $3",
        message_id,
        float(now),
        delivery.id,
    )
    await db.execute(
        "UPDATE subscriptions SET last_delivery_at = $1 WHERE id = $2", float(now), delivery.subscription_id
    )
