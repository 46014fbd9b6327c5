"""Fencing by the sync lease: a sender whose lease lapsed stops before its next send.

The real bot on the loopback Discord announces only while its process holds the lease; a second
process (its own store connection, the same database) takes the lease once it expires, and the
first, still running, sends nothing more. Time is the world's manual clock.
"""

from __future__ import annotations

import pytest
from bot_harness import World, poll_and_deliver
from factories import write_post

from bot.services.lease import SyncLease
from bot.store import open_store


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """On a SQLite file and on a PostgreSQL database."""
    return both_backends


async def test_a_lapsed_holder_sends_nothing_after_another_took_the_lease(world: World) -> None:
    bot, clock = world.bot, world.clock
    handle = await world.emu.slash_command("subscribe", {"channel": world.channel}, user=world.admin, locale="en-US")
    assert "will be announced" in (await handle.response())["data"]["content"]
    await poll_and_deliver(bot)

    mine = SyncLease(bot.store, holder="first", seconds=30, clock=clock)
    bot.announcer.may_send = mine.may_send  # what `kiji run` wires when several processes share the store
    assert await mine.renew() and mine.generation == 1

    other_store = await open_store(bot.store.location, clock=clock.time)  # the second process
    try:
        theirs = SyncLease(other_store, holder="second", seconds=30, clock=clock)
        assert not await theirs.renew()  # held by the first
        clock.advance(31)  # the first process stalled past its expiry
        assert await theirs.renew() and theirs.generation == 2

        clock.advance(0.01)
        write_post(world.posts_dir, "2025-07-01-fenced.md", "フェンス", "期限切れの送信者は送らない記事です。")
        await poll_and_deliver(bot)  # the first process wakes up and runs its round
        assert world.emu.sent_messages.get(world.channel, []) == []
        assert [d.state for d in await bot.store.deliveries(channel_id=world.channel)] == ["pending"]
        assert not mine.held and not await mine.renew()  # it knows it lost the lease; still held by the second

        await theirs.release()  # the second stops cleanly: the first may take over at once
        assert await mine.renew() and mine.generation == 3
        await poll_and_deliver(bot)
    finally:
        await other_store.close()
    titles = [m["embeds"][0]["title"] for m in world.emu.sent_messages[world.channel]]
    assert titles == ["フェンス"]
