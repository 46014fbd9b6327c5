"""Notices when a blog stops updating, end to end: a real folder source goes away, the bot's clock moves on."""

from __future__ import annotations

from pathlib import Path

import pytest
from bot_harness import World

from bot.clock import ManualClock
from bot.services.notices import failure_kind

HOUR = 3600.0


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """The notices here run on a SQLite file and on a PostgreSQL database."""
    return both_backends


def clock(world: World) -> ManualClock:
    assert world.clock is not None
    return world.clock


def messages(world: World, channel: int) -> list[dict]:
    return world.emu.sent_messages.get(channel, [])


async def subscribe(world: World, channel: int) -> None:
    handle = await world.emu.slash_command("subscribe", {"channel": channel}, user=world.admin, locale="en-US")
    assert "will be announced" in (await handle.response())["data"]["content"]


async def notices_command(world: World, options: dict, user: int | None = None) -> dict:
    handle = await world.emu.slash_command("notices", options, user=user or world.admin, locale="en-US")
    return (await handle.response())["data"]


async def hours_later(world: World, hours: float) -> None:
    """Time passes; the blog is polled (as every poll does) and the notices looked at."""
    await world.bot.sync.sync_now()  # a sync in flight while the clock jumps would run out of time
    clock(world).advance(hours * HOUR)
    await world.bot.sync.sync_now()
    await world.bot.notices.run_round()


def break_blog(world: World) -> Path:
    away = world.posts_dir.with_name("posts-away")
    world.posts_dir.rename(away)
    return away


async def test_a_blog_failing_past_the_threshold_gets_one_notice_per_channel_then_one_on_recovery(
    world: World,
) -> None:
    second, forum = world.channels["second"], world.channels["forum"]
    for channel in (world.channel, second, forum):
        await subscribe(world, channel)
    away = break_blog(world)
    await hours_later(world, 0)  # the first failure
    await hours_later(world, 5)  # failing again five hours on: still under six hours since the first
    assert messages(world, world.channel) == [] and messages(world, second) == []

    await hours_later(world, 1.5)
    for channel in (world.channel, second):
        [notice] = messages(world, channel)
        # The server's locale is Japanese: the reason is said in Japanese, the source's words below it.
        assert "6時間以上更新できていません" in notice["content"]
        assert "読み込み元が見つかりません" in notice["content"] and "does not exist" in notice["content"]
    sends = [r for r in world.emu.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert len(sends) == 2 and all(r.body["allowed_mentions"]["parse"] == [] for r in sends)
    assert all(r.body["nonce"] and r.body["enforce_nonce"] is True for r in sends)
    assert messages(world, forum) == []  # a forum would need a thread per notice: it gets none

    # Still failing, more rounds, a restart of the sender: nothing more for this failure.
    await hours_later(world, 3)
    await world.bot.notices.stop()
    world.bot.notices.start()
    await world.bot.notices.run_round()
    assert len(messages(world, world.channel)) == 1 and len(messages(world, second)) == 1

    away.rename(world.posts_dir)
    await hours_later(world, 1)
    for channel in (world.channel, second):
        down, up = messages(world, channel)
        assert "6時間以上" in down["content"] and "更新が再開しました" in up["content"]
    await hours_later(world, 1)
    assert len(messages(world, world.channel)) == 2 and len(messages(world, second)) == 2
    assert {(n.kind, n.state) for n in await world.bot.store.notices()} == {("down", "sent"), ("up", "sent")}


async def test_a_short_failure_says_nothing(world: World) -> None:
    await subscribe(world, world.channel)
    away = break_blog(world)
    await hours_later(world, 0)
    await hours_later(world, 4)
    away.rename(world.posts_dir)
    await hours_later(world, 4)  # recovered before six hours had passed
    await hours_later(world, 4)
    assert messages(world, world.channel) == []


async def test_notices_off_sends_none_and_a_named_channel_gets_the_only_one(world: World) -> None:
    third = world.channels["third"]
    await subscribe(world, world.channel)
    await subscribe(world, world.channels["second"])
    refused = await notices_command(world, {"off": {}}, user=world.member)
    assert "Manage Server" in refused["content"]
    data = await notices_command(world, {"off": {}})
    assert "off" in data["content"]
    away = break_blog(world)
    await hours_later(world, 0)
    await hours_later(world, 7)
    assert not any(messages(world, c) for c in (world.channel, world.channels["second"], third))

    data = await notices_command(world, {"channel": {"channel": third}})
    assert f"<#{third}>" in data["content"]
    await hours_later(world, 1)
    [notice] = messages(world, third)
    assert "6時間以上" in notice["content"]
    assert messages(world, world.channel) == [] and messages(world, world.channels["second"]) == []

    # Turned off while the blog is down: its recovery is not announced either.
    await notices_command(world, {"off": {}})
    away.rename(world.posts_dir)
    await hours_later(world, 1)
    assert len(messages(world, third)) == 1


def test_failure_kinds_from_what_sources_say() -> None:
    assert failure_kind("took over 1200 s and was stopped; trying again at the next poll") == "timeout"
    assert failure_kind("authentication failed: check the SSH key (git: fatal: Authentication failed)") == "access"
    assert failure_kind("the posts folder /srv/blog does not exist; set KIJI_POSTS_DIR") == "missing"
    assert failure_kind("the server cannot be reached (git: fatal: unable to access)") == "unreachable"
    assert failure_kind("cannot read the site configuration _config.yml: line 3") == "config"
    assert failure_kind("something new") == "other"
