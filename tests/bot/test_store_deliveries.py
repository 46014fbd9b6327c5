"""The delivery ledger: what counts as new for a subscription, bursts, backfill, exactly-once state."""

from __future__ import annotations

import pytest
from factories import NOW, record

from bot.store import Store, delivery_nonce

GUILD = 1
CHANNEL = 100


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here that takes `store` runs on a SQLite file and on a PostgreSQL database."""
    return both_backends


async def test_posts_already_stored_are_never_new(store: Store) -> None:
    await store.write_batch([record("old", "Old", "x", date_utc=NOW - 100)], now=NOW - 50)
    await store.subscribe(GUILD, CHANNEL, "text", now=NOW)
    assert await store.enqueue_new_posts(10, now=NOW + 10) == {}
    assert await store.pending_deliveries() == []


async def test_a_post_ingested_later_is_new_whatever_its_date(store: Store) -> None:
    subscription = await store.subscribe(GUILD, CHANNEL, "text", now=NOW)
    # Dated a day before the subscription, but pushed after it.
    await store.write_batch([record("late", "Late", "x", date_utc=NOW - 86_400)], now=NOW + 5)
    assert await store.enqueue_new_posts(10, now=NOW + 10) == {subscription.id: (1, 0)}
    [delivery] = await store.pending_deliveries()
    assert (delivery.post_path, delivery.channel_id) == ("late", CHANNEL)
    assert delivery.nonce == delivery_nonce(subscription.id, "late") and len(delivery.nonce) <= 25
    assert await store.enqueue_new_posts(10, now=NOW + 20) == {}  # never queued twice


async def test_a_scheduled_post_is_new_when_it_comes_due(store: Store) -> None:
    await store.write_batch([record("soon", "Soon", "x", date_utc=NOW + 3600)], now=NOW - 10)
    await store.subscribe(GUILD, CHANNEL, "text", now=NOW)
    assert await store.enqueue_new_posts(10, now=NOW + 60) == {}
    assert len(await store.enqueue_new_posts(10, now=NOW + 3601)) == 1


async def test_filters_match_any_tag_or_category(store: Store) -> None:
    ai = await store.subscribe(GUILD, 1, "text", tags=["ＡＩ"], now=NOW)
    research = await store.subscribe(GUILD, 2, "text", categories=["研究"], now=NOW)
    everything = await store.subscribe(GUILD, 3, "text", now=NOW)
    await store.write_batch(
        [
            record("a", "A", "x", tags=("ai",)),
            record("b", "B", "x", categories=("研究",)),
            record("c", "C", "x", tags=("other",)),
        ],
        now=NOW + 1,
    )
    queued = await store.enqueue_new_posts(10, now=NOW + 2)
    assert queued == {ai.id: (1, 0), research.id: (1, 0), everything.id: (3, 0)}
    by_channel = {}
    for d in await store.pending_deliveries():
        by_channel.setdefault(d.channel_id, []).append(d.post_path)
    assert {channel: set(paths) for channel, paths in by_channel.items()} == {1: {"a"}, 2: {"b"}, 3: {"a", "b", "c"}}


async def test_a_burst_keeps_only_the_newest(store: Store) -> None:
    subscription = await store.subscribe(GUILD, CHANNEL, "text", now=NOW)
    await store.write_batch(
        [record(f"p{i:02d}", f"P{i}", "x", date_utc=NOW - 1000 + i) for i in range(25)],
        now=NOW + 1,
    )
    assert await store.enqueue_new_posts(10, now=NOW + 2) == {subscription.id: (10, 15)}
    pending = await store.pending_deliveries()
    assert [d.post_path for d in pending] == [f"p{i:02d}" for i in range(15, 25)]  # oldest first
    skipped = [d for d in await store.deliveries(channel_id=CHANNEL) if d.state == "skipped"]
    assert len(skipped) == 15


async def test_backfill_queues_the_latest_matching(store: Store) -> None:
    await store.write_batch(
        [record(f"p{i}", f"P{i}", "x", tags=("t",), date_utc=NOW - 100 + i) for i in range(6)]
        + [record("untagged", "U", "x", date_utc=NOW - 1)],
        now=NOW - 50,
    )
    subscription = await store.subscribe(GUILD, CHANNEL, "text", tags=["t"], now=NOW)
    assert await store.backfill(subscription.id, 3, now=NOW) == 3
    assert [d.post_path for d in await store.pending_deliveries()] == ["p3", "p4", "p5"]


async def test_sent_and_paused_states(store: Store) -> None:
    subscription = await store.subscribe(GUILD, CHANNEL, "text", now=NOW)
    await store.write_batch([record("a", "A", "x"), record("b", "B", "x", date_utc=NOW - 10)], now=NOW + 1)
    await store.enqueue_new_posts(10, now=NOW + 2)
    first, second = await store.pending_deliveries()
    await store.record_attempt(first.id, "HTTP 503")
    await store.mark_sent(first, 555, now=NOW + 3)
    assert [d.post_path for d in await store.pending_deliveries()] == [second.post_path]
    await store.pause_subscription(subscription.id, "missing Send Messages", now=NOW + 4)
    assert await store.pending_deliveries() == []
    [paused] = await store.subscriptions(GUILD)
    assert (paused.active, paused.paused_reason, paused.last_delivery_at) == (False, "missing Send Messages", NOW + 3)
    assert await store.resume_subscription(GUILD, CHANNEL)
    assert len(await store.pending_deliveries()) == 1
    ledger = {d.post_path: d for d in await store.deliveries()}
    assert (ledger["a"].state, ledger["a"].message_id, ledger["a"].attempts) == ("sent", 555, 1)


async def test_unsubscribe_drops_the_ledger(store: Store) -> None:
    await store.subscribe(GUILD, CHANNEL, "text", now=NOW)
    await store.write_batch([record("a", "A", "x")], now=NOW + 1)
    await store.enqueue_new_posts(10, now=NOW + 2)
    assert await store.unsubscribe(GUILD, CHANNEL)
    assert not await store.unsubscribe(GUILD, CHANNEL)
    assert await store.deliveries() == []


async def test_new_filters_do_not_announce_posts_that_came_before_them(store: Store) -> None:
    subscription = await store.subscribe(GUILD, CHANNEL, "text", tags=["RAG"], now=NOW)
    ai_posts = [record(f"ai{i}", f"AI {i}", "x", tags=("AI",), date_utc=NOW - 10 * i) for i in range(3)]
    await store.write_batch(ai_posts, now=NOW + 5)
    assert await store.enqueue_new_posts(10, now=NOW + 10) == {}  # not RAG: rightly not announced
    # The admin widens the filter an hour later: the three AI posts are old news by now.
    widened = await store.subscribe(GUILD, CHANNEL, "text", tags=["RAG", "AI"], now=NOW + 3600)
    assert widened.id == subscription.id
    assert await store.enqueue_new_posts(10, now=NOW + 3610) == {}
    await store.write_batch([record("ai-new", "AI new", "x", tags=("ＡＩ",), date_utc=NOW + 3000)], now=NOW + 3620)
    assert await store.enqueue_new_posts(10, now=NOW + 3630) == {subscription.id: (1, 0)}


async def test_subscribing_again_with_the_same_filters_keeps_the_start(store: Store) -> None:
    subscription = await store.subscribe(GUILD, CHANNEL, "text", tags=["AI"], now=NOW)
    await store.write_batch([record("ai", "AI", "x", tags=("AI",), date_utc=NOW - 10)], now=NOW + 5)
    await store.subscribe(GUILD, CHANNEL, "text", tags=["ai"], mention_role_id=7, now=NOW + 3600)
    assert await store.enqueue_new_posts(10, now=NOW + 3610) == {subscription.id: (1, 0)}


async def test_a_queued_post_is_rechecked_against_the_filters_it_must_match_now(store: Store) -> None:
    """The one subscription filter (SQL) answers the announcer's re-check before a send."""
    await store.write_batch(
        [record("ai", "AI", "x", tags=("ＡＩ",)), record("cat", "C", "y", categories=("News",))], now=NOW
    )
    ai, cat = await store.get_post_by_path("ai"), await store.get_post_by_path("cat")
    assert ai is not None and cat is not None
    everything = await store.subscribe(GUILD, CHANNEL, "text", now=NOW)
    assert await store.still_matches(everything.id, ai.id) and await store.still_matches(everything.id, cat.id)
    by_tag = await store.subscribe(GUILD, CHANNEL, "text", tags=("ai",), now=NOW)
    assert await store.still_matches(by_tag.id, ai.id) and not await store.still_matches(by_tag.id, cat.id)
    by_category = await store.subscribe(GUILD, CHANNEL, "text", categories=("ｎｅｗｓ",), now=NOW)
    assert not await store.still_matches(by_category.id, ai.id) and await store.still_matches(by_category.id, cat.id)
    await store.write_batch([record("cat", "C", "y2", tags=("AI",))], now=NOW)  # the post lost its category
    assert not await store.still_matches(by_category.id, cat.id)
    assert not await store.still_matches(by_category.id + 99, ai.id)  # a subscription since deleted


async def test_posts_a_new_blogs_first_read_stores_are_its_past_even_before_the_read_ends(store: Store) -> None:
    """An announcer round that runs while a blog's first read is still storing must not announce its posts."""
    subscription = await store.subscribe(GUILD, CHANNEL, "text", now=NOW)  # follows every blog
    blog = await store.register_source("new-blog", "a blog added while the bot runs")
    await store.record_read_started(blog, now=NOW + 1)
    await store.write_batch([record("existing", "Existing", "x", date_utc=NOW - 86_400)], now=NOW + 2, source_id=blog)
    assert await store.enqueue_new_posts(10, now=NOW + 3) == {}  # the round during the read
    await store.write_batch([record("existing-2", "Existing 2", "y", date_utc=NOW - 3600)], now=NOW + 4, source_id=blog)
    await store.record_read_started(blog, now=NOW + 4)  # a read started meanwhile changes nothing
    await store.record_source_success(blog, now=NOW + 5)
    assert await store.enqueue_new_posts(10, now=NOW + 6) == {}  # past, once the read has ended too
    await store.record_read_started(blog, now=NOW + 10)  # the next read: what it stores is news
    await store.write_batch([record("news", "News", "z", date_utc=NOW + 9)], now=NOW + 11, source_id=blog)
    assert await store.enqueue_new_posts(10, now=NOW + 12) == {subscription.id: (1, 0)}
    assert [d.post_path for d in await store.pending_deliveries()] == ["news"]


async def test_a_failed_first_read_keeps_its_posts_past_and_the_posts_after_the_first_success_are_news(
    store: Store,
) -> None:
    """A first read that stored some posts, then failed: those were the blog's existing posts, never news.

    The read that succeeds later is the first success: what it stores is past as well (the store cannot
    tell a post published between the two reads from one the failed read did not reach). Only what a
    read after that first success stores is news.
    """
    subscription = await store.subscribe(GUILD, CHANNEL, "text", now=NOW)
    blog = await store.register_source("flaky-blog", "a blog whose first read fails half-way")
    await store.record_read_started(blog, now=NOW + 1)
    await store.write_batch(
        [record("first-half", "First half", "x", date_utc=NOW - 86_400)], now=NOW + 2, source_id=blog
    )
    await store.record_source_failure(blog, "the server went away", now=NOW + 3)
    assert await store.enqueue_new_posts(10, now=NOW + 4) == {}  # the failed read's posts stay past
    await store.record_read_started(blog, now=NOW + 10)
    assert await store.enqueue_new_posts(10, now=NOW + 11) == {}
    await store.write_batch(
        [record("second-half", "Second half", "y", date_utc=NOW - 3600)], now=NOW + 12, source_id=blog
    )
    assert await store.enqueue_new_posts(10, now=NOW + 13) == {}  # still the first read, in a second try
    await store.record_source_success(blog, now=NOW + 14)
    assert await store.enqueue_new_posts(10, now=NOW + 15) == {}
    await store.record_read_started(blog, now=NOW + 20)
    await store.write_batch([record("news", "News", "z", date_utc=NOW + 19)], now=NOW + 21, source_id=blog)
    assert await store.enqueue_new_posts(10, now=NOW + 22) == {subscription.id: (1, 0)}
    assert [d.post_path for d in await store.pending_deliveries()] == ["news"]
