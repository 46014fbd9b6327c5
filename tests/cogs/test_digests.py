"""Digests end to end: /subscribe digest:daily|weekly, time moved on the bot's clock, messages in the emulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from bot_harness import World, poll_and_deliver
from factories import write_post

from bot.clock import ManualClock
from bot.content import limits
from bot.discord.digests import next_period_end, pack, period_ending
from bot.store.digests import digest_nonce


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """The digests here run on a SQLite file and on a PostgreSQL database."""
    return both_backends


UTC_ZONE = ZoneInfo("UTC")


def clock(world: World) -> ManualClock:
    assert world.clock is not None
    return world.clock


def messages(world: World, channel: int) -> list[dict]:
    return world.emu.sent_messages.get(channel, [])


def listed(message: dict) -> str:
    return "\n".join(embed.get("description", "") for embed in message.get("embeds", []))


async def subscribe(world: World, channel: int, **options: object) -> dict:
    handle = await world.emu.slash_command(
        "subscribe", {"channel": channel, **options}, user=world.admin, locale="en-US"
    )
    return (await handle.response())["data"]


def new_post(world: World, slug: str, title: str, tags: str = "[AI]") -> None:
    clock(world).advance(0.01)
    write_post(
        world.posts_dir, f"2025-07-01-{slug}.md", title, "今日の記事の本文です。内容は十分にあります。", tags=tags
    )


def move_to(world: World, wall: float) -> None:
    clock(world).advance(wall - clock(world).time())


async def scheduler_looks_at(world: World, wall: float) -> None:
    """Move the clock to `wall`, and let the scheduler's own loop look then (woken, as /subscribe wakes it)."""
    move_to(world, wall)
    looked = asyncio.ensure_future(world.bot.wait_for("kiji_digest_round", timeout=10))
    world.bot.digests.wake()
    await looked


async def digest_round(world: World) -> None:
    """What the scheduler does at a period's end, run now (after the blog was read)."""
    await world.bot.sync.sync_now()
    await world.bot.digests.run_round()


async def test_daily_digest_lists_the_days_posts_once_at_its_hour_and_nothing_singly(world: World) -> None:
    data = await subscribe(world, world.channel, digest="daily", digest_hour=9, timezone="UTC")
    assert "every day at 9:00 (UTC)" in data["content"], data["content"]
    listing = await world.emu.slash_command("subscriptions", {}, user=world.admin, locale="ja")
    fields = (await listing.response())["data"]["embeds"][0]["fields"]
    assert "まとめ配信：毎日 9時（UTC）" in fields[0]["value"]
    new_post(world, "one", "一本目の記事")
    new_post(world, "two", "Second post of the day")
    await poll_and_deliver(world.bot)  # the announcer's round: the posts wait for the digest
    await world.bot.digests.run_round()  # before 9:00: the day is not over
    assert messages(world, world.channel) == []

    nine = next_period_end(clock(world).time(), "daily", 9, 0, UTC_ZONE)
    await scheduler_looks_at(world, nine - 60)
    assert messages(world, world.channel) == []
    # Its poll is an hour away: only the scheduler's own timer for 9:00 can send the digest now.
    move_to(world, nine + 5)
    await world.emu.wait_for(lambda: len(messages(world, world.channel)) == 1, 10, "the daily digest")
    [digest] = messages(world, world.channel)
    text = listed(digest)
    assert text.count("一本目の記事") == 1 and text.count("Second post of the day") == 1
    assert "https://blog.example.org/" in text  # titles are links
    assert digest["embeds"][0]["title"].startswith(datetime.fromtimestamp(nine - 1, UTC).strftime("%Y-%m-%d"))
    assert "2 件" in digest["embeds"][0]["title"]  # the server's locale is Japanese

    # A second round, and the announcer's, send nothing more.
    await poll_and_deliver(world.bot)
    await world.bot.digests.run_round()
    assert len(messages(world, world.channel)) == 1
    # Each post is recorded as delivered by the digest's message.
    ledger = await world.bot.store.deliveries(channel_id=world.channel)
    assert {d.state for d in ledger} == {"sent"} and {d.message_id for d in ledger} == {int(digest["id"])}

    # The next day has one post: the next digest lists only it.
    new_post(world, "three", "翌日の記事")
    await world.bot.sync.sync_now()
    move_to(world, nine + 86400 + 5)
    await world.emu.wait_for(lambda: len(messages(world, world.channel)) == 2, 10, "the second digest")
    second = listed(messages(world, world.channel)[1])
    assert "翌日の記事" in second and "一本目の記事" not in second


async def test_a_day_without_posts_sends_nothing(world: World) -> None:
    await subscribe(world, world.channel, digest="daily", digest_hour=7, timezone="Asia/Tokyo")
    await digest_round(world)
    seven = next_period_end(clock(world).time(), "daily", 7, 0, ZoneInfo("Asia/Tokyo"))
    move_to(world, seven + 5)
    await digest_round(world)
    await digest_round(world)
    assert messages(world, world.channel) == []
    [empty] = await world.bot.store.digests()
    assert empty.state == "empty" and empty.parts == ()
    # A post arriving after the empty day goes into the next day's digest, not late into the empty one.
    new_post(world, "late", "遅れて届いた記事")
    await digest_round(world)
    assert messages(world, world.channel) == []
    move_to(world, seven + 86400 + 5)
    await digest_round(world)
    [message] = messages(world, world.channel)
    assert "遅れて届いた記事" in listed(message)


async def test_a_restarted_scheduler_resends_nothing_and_finishes_a_half_sent_digest(world: World) -> None:
    """The ledger, not memory: a digest recorded pending is sent with the same nonces after a restart."""
    await subscribe(world, world.channel, digest="daily", digest_hour=9, timezone="UTC")
    for i in range(3):
        new_post(world, f"p{i}", f"記事{i}")
    await world.bot.sync.sync_now()
    move_to(world, next_period_end(clock(world).time(), "daily", 9, 0, UTC_ZONE) + 5)
    await world.emu.wait_for(lambda: len(messages(world, world.channel)) == 1, 10, "the digest")
    await world.bot.digests.stop()
    world.bot.digests.start()  # as after a restart: a first round right away
    await world.bot.digests.run_round()
    assert len(messages(world, world.channel)) == 1
    [digest] = await world.bot.store.digests()
    assert digest.state == "sent" and len(digest.message_ids) == 1
    # The first part reached Discord but its recording was lost (a crash between the two):
    # the retry carries the same nonce, and Discord hands back the message it already has.
    sent_before = world.emu.nonce_duplicates
    subscription = (await world.bot.store.subscriptions())[0]
    again = await world.bot.get_channel(world.channel).send(  # type: ignore[union-attr]
        "x", nonce=digest_nonce(subscription.id, digest.period_start, 0)
    )
    assert again.id == digest.message_ids[0] and world.emu.nonce_duplicates == sent_before + 1


async def test_weekly_digest_goes_out_on_its_weekday(world: World) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    await subscribe(world, world.channel, digest="weekly", digest_hour=18, digest_weekday=4, timezone="Asia/Tokyo")
    new_post(world, "week", "今週の記事")
    await digest_round(world)
    friday = next_period_end(clock(world).time(), "weekly", 18, 4, tokyo)
    assert datetime.fromtimestamp(friday, tokyo).weekday() == 4 and datetime.fromtimestamp(friday, tokyo).hour == 18
    move_to(world, friday - 60)
    await digest_round(world)
    assert messages(world, world.channel) == []
    move_to(world, friday + 5)
    await digest_round(world)
    [message] = messages(world, world.channel)
    assert "今週の記事" in listed(message)


async def test_a_forum_cannot_take_a_digest(world: World) -> None:
    data = await subscribe(world, world.channels["forum"], digest="daily")
    assert "text or announcement" in data["content"]
    assert await world.bot.store.subscriptions() == []


def test_periods_follow_the_local_wall_clock_across_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2025-03-30 2:00 is the spring change in Berlin: the day to 9:00 on the 30th is 23 hours long.
    now = datetime(2025, 3, 30, 12, tzinfo=berlin).timestamp()
    start, end = period_ending(now, "daily", 9, 0, berlin)
    assert datetime.fromtimestamp(end, berlin) == datetime(2025, 3, 30, 9, tzinfo=berlin)
    assert end - start == 23 * 3600
    assert period_ending(end, "daily", 9, 0, berlin)[1] == end  # the end itself closes the period
    assert period_ending(end - 1, "daily", 9, 0, berlin)[1] == start


def test_a_long_digest_is_split_only_where_discord_limits_force_it() -> None:
    line = "**[" + "題" * 150 + "](https://blog.example.org/x)**\n" + "要" * 160
    few = pack("Posts", [line] * 10, None)
    assert len(few) == 1  # 10 lines of ~350 characters fit one message's 6,000
    many = pack("Posts", [line] * 60, role_id=42)
    assert len(many) > 1
    for part in many:
        total = sum(len(e.get("title", "")) + len(e["description"]) for e in part["embeds"])
        assert total <= limits.EMBED_TOTAL and len(part["embeds"]) <= 10
        assert all(len(e["description"]) <= limits.EMBED_DESCRIPTION for e in part["embeds"])
    assert sum(p["embeds"][i]["description"].count("要" * 160) for p in many for i in range(len(p["embeds"]))) == 60
    # a message ends only when the next line would not fit in it
    for part in many[:-1]:
        total = sum(len(e.get("title", "")) + len(e["description"]) for e in part["embeds"])
        assert total + len(line) + 2 > limits.EMBED_TOTAL or len(part["embeds"]) == 10
    assert many[0]["content"] == "<@&42>" and many[1]["content"] is None
