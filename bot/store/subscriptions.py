"""Channel subscriptions and the delivery ledger that makes announcements exactly-once.

A (subscription, post) pair is written *pending* before anything is sent and marked *sent*
with Discord's message id afterwards; the announcer reads the ledger, never its own memory.
Which posts a subscription wants is decided here, in SQL, once: `MATCHES_SUBSCRIPTION` is
used both to queue new posts and (`still_matches`) to re-check a pending one before it goes out.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence

import aiosqlite

from bot.content.textnorm import normalize_key
from bot.models import DEFAULT_PLACEMENT, Delivery, Placement, Subscription, blog_label
from bot.store.sqlhelpers import fetch_all, fetch_one

_SUBSCRIPTION_COLUMNS = (
    "id, guild_id, channel_id, channel_kind, tags, categories, mention_role_id, created_at, "
    "paused_reason, paused_at, last_delivery_at, source_id, layout, template, timezone, "
    "delivery, webhook_id, thread, thread_name, forum_tag_id, digest, digest_hour, digest_weekday"
)
_DELIVERY_COLUMNS = (
    "d.id, d.subscription_id, s.guild_id, s.channel_id, d.post_path, d.post_id, d.post_date_utc, d.state, "
    "d.nonce, d.message_id, d.attempts, d.last_error, d.created_at, d.sent_at"
)
# A post `p` matches a subscription `s` when it is from the subscription's blog (or the
# subscription follows every blog), and the subscription has no filter, or the post has any
# of its tag keys or category keys (JSON arrays in the subscription row).
MATCHES_SUBSCRIPTION = (
    "((s.source_id IS NULL OR s.source_id = p.source_id) AND "
    "((s.tags = '[]' AND s.categories = '[]') "
    "OR EXISTS (SELECT 1 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
    "           WHERE pt.post_id = p.id AND t.key IN (SELECT value FROM json_each(s.tags))) "
    "OR EXISTS (SELECT 1 FROM post_categories pc JOIN categories c ON c.id = pc.category_id "
    "           WHERE pc.post_id = p.id AND c.key IN (SELECT value FROM json_each(s.categories)))))"
)
_INSERT_DELIVERY = (
    "INSERT OR IGNORE INTO deliveries "
    "(subscription_id, source_id, post_path, post_id, post_date_utc, state, nonce, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def delivery_nonce(subscription_id: int, post_path: str, source_id: int = 1) -> str:
    """Discord's message nonce for a pair: the same on every retry, so Discord drops repeats.

    The source is part of it: two blogs' posts at the same path are two messages. The nonce is
    stored with the delivery, so pairs queued before sources existed keep theirs.
    """
    digest = hashlib.blake2b(f"{subscription_id}:{source_id}:{post_path}".encode(), digest_size=12).hexdigest()
    return digest[:25]


def _keys(names: Sequence[str]) -> str:
    return json.dumps(sorted({normalize_key(n) for n in names if normalize_key(n)}), ensure_ascii=False)


def _subscription(row: sqlite3.Row) -> Subscription:
    return Subscription(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        channel_kind=row["channel_kind"],
        tags=tuple(json.loads(row["tags"])),
        categories=tuple(json.loads(row["categories"])),
        mention_role_id=row["mention_role_id"],
        created_at=row["created_at"],
        paused_reason=row["paused_reason"],
        paused_at=row["paused_at"],
        last_delivery_at=row["last_delivery_at"],
        source_id=row["source_id"],
        layout=row["layout"],
        template=row["template"],
        timezone=row["timezone"],
        delivery=row["delivery"],
        webhook_id=row["webhook_id"],
        thread=bool(row["thread"]),
        thread_name=row["thread_name"],
        forum_tag_id=row["forum_tag_id"],
        digest=row["digest"],
        digest_hour=row["digest_hour"],
        digest_weekday=row["digest_weekday"],
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        post_path=row["post_path"],
        post_id=row["post_id"],
        post_date_utc=row["post_date_utc"],
        state=row["state"],
        nonce=row["nonce"],
        message_id=row["message_id"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
    )


# -- subscriptions -------------------------------------------------------------------


async def subscribe(
    db: aiosqlite.Connection,
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
    """Create, or update the filters of, the channel's subscription (see Store.subscribe)."""
    await db.execute(
        "INSERT INTO subscriptions (guild_id, channel_id, channel_kind, tags, categories, mention_role_id, "
        "created_at, created_by, source_id, layout, template, timezone, delivery, webhook_id, thread, "
        "thread_name, forum_tag_id, digest, digest_hour, digest_weekday) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (channel_id) DO UPDATE SET "
        "channel_kind = excluded.channel_kind, tags = excluded.tags, categories = excluded.categories, "
        "mention_role_id = excluded.mention_role_id, source_id = excluded.source_id, layout = excluded.layout, "
        "template = excluded.template, timezone = excluded.timezone, delivery = excluded.delivery, "
        "webhook_id = excluded.webhook_id, thread = excluded.thread, thread_name = excluded.thread_name, "
        "forum_tag_id = excluded.forum_tag_id, digest = excluded.digest, digest_hour = excluded.digest_hour, "
        "digest_weekday = excluded.digest_weekday, paused_reason = NULL, "
        "paused_at = NULL, created_at = CASE WHEN (tags, categories, source_id) IS "
        "(excluded.tags, excluded.categories, excluded.source_id) THEN created_at ELSE excluded.created_at END",
        (
            guild_id,
            channel_id,
            channel_kind,
            _keys(tags),
            _keys(categories),
            mention_role_id,
            now,
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
        ),
    )
    subscription = await subscription_for_channel(db, channel_id)
    assert subscription is not None  # written just above, in the same transaction
    return subscription


async def set_webhook(db: aiosqlite.Connection, subscription_id: int, webhook_id: int | None) -> None:
    """The channel webhook a subscription sends through, after the one stored was deleted and replaced."""
    await db.execute("UPDATE subscriptions SET webhook_id = ? WHERE id = ?", (webhook_id, subscription_id))


async def unsubscribe(db: aiosqlite.Connection, guild_id: int, channel_id: int) -> bool:
    cur = await db.execute("DELETE FROM subscriptions WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id))
    return cur.rowcount > 0


async def subscriptions(db: aiosqlite.Connection, guild_id: int | None) -> list[Subscription]:
    rows = await fetch_all(
        db,
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE ? IS NULL OR guild_id = ? ORDER BY id",
        (guild_id, guild_id),
    )
    return [_subscription(row) for row in rows]


async def subscription_for_channel(db: aiosqlite.Connection, channel_id: int) -> Subscription | None:
    row = await fetch_one(db, f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE channel_id = ?", (channel_id,))
    return _subscription(row) if row else None


async def pause_subscription(db: aiosqlite.Connection, subscription_id: int, reason: str, now: float) -> None:
    await db.execute(
        "UPDATE subscriptions SET paused_reason = ?, paused_at = ? WHERE id = ? AND paused_reason IS NULL",
        (reason, now, subscription_id),
    )


async def resume_subscription(db: aiosqlite.Connection, guild_id: int, channel_id: int) -> bool:
    cur = await db.execute(
        "UPDATE subscriptions SET paused_reason = NULL, paused_at = NULL WHERE guild_id = ? AND channel_id = ?",
        (guild_id, channel_id),
    )
    return cur.rowcount > 0


# Why a subscription to one blog is paused when that blog leaves the configuration: a message key
# and its values, as the announcer's pause reasons are stored (bot.discord.i18n.pause_reason).
BLOG_NOT_CONFIGURED = "pause.blog_not_configured"


async def follow_configured_blogs(
    db: aiosqlite.Connection, configured: Sequence[int], now: float
) -> tuple[list[int], list[int]]:
    """Pause the subscriptions to a blog no longer configured, resume those whose blog is back.

    Such a subscription can announce nothing (no post of its blog comes any more) and used to
    look active; paused, it says why. Only pauses for this reason are lifted: a channel that lost
    a permission meanwhile stays paused for that. Returns (paused ids, resumed ids).
    """
    ids = json.dumps(sorted(set(configured)))
    rows = await fetch_all(
        db,
        "SELECT s.id, src.id AS source_id, src.name, src.display, src.title FROM subscriptions s "
        "JOIN sources src ON src.id = s.source_id "
        "WHERE s.paused_reason IS NULL AND s.source_id NOT IN (SELECT value FROM json_each(?))",
        (ids,),
    )
    paused = []
    for row in rows:
        blog = blog_label(row["source_id"], row["name"], row["display"], row["title"])
        reason = json.dumps({"key": BLOG_NOT_CONFIGURED, "values": {"blog": blog}}, ensure_ascii=False, sort_keys=True)
        await pause_subscription(db, row["id"], reason, now)
        paused.append(int(row["id"]))
    resumed = await fetch_all(
        db,
        "UPDATE subscriptions SET paused_reason = NULL, paused_at = NULL WHERE json_valid(paused_reason) "
        "AND json_extract(paused_reason, '$.key') = ? AND source_id IN (SELECT value FROM json_each(?)) RETURNING id",
        (BLOG_NOT_CONFIGURED, ids),
    )
    return paused, [int(row["id"]) for row in resumed]


async def still_matches(db: aiosqlite.Connection, subscription_id: int, post_id: int) -> bool:
    """Whether the post is one the subscription asks for now (its filters or the post's tags may have changed)."""
    row = await fetch_one(
        db,
        f"SELECT 1 FROM subscriptions s JOIN posts p ON p.id = ? WHERE s.id = ? AND {MATCHES_SUBSCRIPTION}",
        (post_id, subscription_id),
    )
    return row is not None


# -- the delivery ledger -------------------------------------------------------------


async def enqueue_new_posts(db: aiosqlite.Connection, max_burst: int, now: float) -> dict[int, tuple[int, int]]:
    """Pending (or, past `max_burst` per subscription, skipped) deliveries for newly visible posts."""
    rows = await fetch_all(
        db,
        "SELECT s.id AS subscription_id, p.id AS post_id, p.source_id, p.path, p.date_utc "
        "FROM subscriptions s JOIN posts p ON p.date_utc <= ? JOIN sources src ON src.id = p.source_id "
        "WHERE NOT p.silent "  # a blog's archive is its past, never news
        "AND max(p.first_seen_at, p.date_utc) > max(s.created_at, coalesce(src.first_success_at, 0)) "
        # a first read still storing (or one that failed): its posts are the blog's past (sources.record_read_started)
        "AND (src.first_success_at IS NOT NULL OR src.first_read_started_at IS NULL) "
        f"AND {MATCHES_SUBSCRIPTION} AND NOT EXISTS (SELECT 1 FROM deliveries d "
        "WHERE d.subscription_id = s.id AND d.source_id = p.source_id AND d.post_path = p.path) "
        # a post that went and came back under another name, with the bytes it was announced with
        "AND NOT EXISTS (SELECT 1 FROM posts_gone g JOIN deliveries d ON d.subscription_id = s.id "
        "AND d.source_id = g.source_id AND d.post_path = g.path "
        "WHERE g.source_id = p.source_id AND g.content_hash = p.content_hash) "
        "ORDER BY s.id, p.date_utc DESC, p.id DESC",
        (now,),
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
        inserts.append((subscription_id, source_id, path, row["post_id"], row["date_utc"], state, nonce, now))
        queued, skipped = outcome.get(subscription_id, (0, 0))
        outcome[subscription_id] = (queued + 1, skipped) if state == "pending" else (queued, skipped + 1)
    await db.executemany(_INSERT_DELIVERY, inserts)
    return outcome


async def backfill(db: aiosqlite.Connection, subscription_id: int, count: int, now: float) -> int:
    """Queue the `count` latest matching visible posts, all in the caller's one transaction.

    One transaction: a delivery round running meanwhile must see all of them or none, or it
    could send the newest before the older ones exist.
    """
    rows = await fetch_all(
        db,
        "SELECT p.id, p.source_id, p.path, p.date_utc FROM subscriptions s JOIN posts p ON p.date_utc <= ? "
        f"WHERE s.id = ? AND {MATCHES_SUBSCRIPTION} ORDER BY p.date_utc DESC, p.id DESC LIMIT ?",
        (now, subscription_id, count),
    )
    cur = await db.executemany(
        _INSERT_DELIVERY,
        [
            (
                subscription_id,
                r["source_id"],
                r["path"],
                r["id"],
                r["date_utc"],
                "pending",
                delivery_nonce(subscription_id, r["path"], r["source_id"]),
                now,
            )
            for r in rows
        ],
    )
    return max(cur.rowcount, 0)


async def _deliveries(
    db: aiosqlite.Connection, where: str, params: Sequence[object], limit: int = -1
) -> list[Delivery]:
    rows = await fetch_all(
        db,
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
        f"WHERE {where} ORDER BY s.channel_id, d.post_date_utc, d.id LIMIT ?",
        (*params, limit),
    )
    return [_delivery(row) for row in rows]


SENDABLE = "d.state = 'pending' AND s.paused_reason IS NULL AND s.digest = 'off' AND d.digest_id IS NULL"


async def pending_deliveries(db: aiosqlite.Connection, limit: int) -> list[Delivery]:
    """What the announcer sends one by one: not the posts a digest collects (bot.store.digests)."""
    return await _deliveries(db, SENDABLE, (), limit)


async def claim_deliveries(
    db: aiosqlite.Connection, lease: str, holder: str, generation: int, now: float
) -> list[Delivery]:
    """The pending deliveries, marked as in flight in the sync lease's term `generation` (see `claim_deliveries`
    of `bot.store.postgres.subscriptions`); none unless `holder` holds the lease in that term at `now`.

    SQLite has one writer, so claiming needs no row locks: this is the same marking, one claimer at a time.
    """
    holds = "SELECT 1 FROM leases WHERE name = ? AND holder = ? AND generation = ? AND expires_at > ?"
    if await fetch_one(db, holds, (lease, holder, generation, now)) is None:
        return []
    await db.execute(
        "UPDATE deliveries SET claimed_generation = ? WHERE id IN (SELECT d.id FROM deliveries d"
        f" JOIN subscriptions s ON s.id = d.subscription_id"
        f" WHERE {SENDABLE} AND (d.claimed_generation IS NULL OR d.claimed_generation <= ?))",
        (generation, generation),
    )
    return await _deliveries(db, f"{SENDABLE} AND d.claimed_generation = ?", (generation,))


async def deliveries(db: aiosqlite.Connection, post_id: int | None, channel_id: int | None) -> list[Delivery]:
    return await _deliveries(
        db,
        "(? IS NULL OR d.post_id = ?) AND (? IS NULL OR s.channel_id = ?)",
        (post_id, post_id, channel_id, channel_id),
    )


async def record_attempt(db: aiosqlite.Connection, delivery_id: int, error: str | None) -> None:
    await db.execute("UPDATE deliveries SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, delivery_id))


async def mark_skipped(db: aiosqlite.Connection, delivery_id: int, reason: str) -> None:
    await db.execute("UPDATE deliveries SET state = 'skipped', last_error = ? WHERE id = ?", (reason, delivery_id))


async def mark_sent(db: aiosqlite.Connection, delivery: Delivery, message_id: int, now: float) -> None:
    await db.execute(
        "UPDATE deliveries SET state = 'sent', message_id = ?, sent_at = ?, last_error = NULL WHERE id = ?",
        (message_id, now, delivery.id),
    )
    await db.execute("UPDATE subscriptions SET last_delivery_at = ? WHERE id = ?", (now, delivery.subscription_id))
