"""The sync lease holder sends in the servers of every shard, not only its own: announcements and digests.

A sharded bot running shard 0 of 2, holding the lease, on the loopback Discord whose shard-1 server
never reaches its gateway session. Its channels are read through REST (`bot.discord.other_shards`):
a new post is announced there and the day's digest goes out there, nothing is paused as gone.
Time is a manual clock, as in the digest tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot_harness import bot_settings, running_client
from factories import make_blog, write_post

from bot.clock import ManualClock
from bot.discord.client import ShardedKijiBot
from bot.emulator import DiscordEmulator
from bot.services.lease import SyncLease
from bot.store import store_for

DAY_START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC).timestamp()


async def test_the_holder_announces_and_sends_digests_in_another_shards_server(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    mine = emu.add_guild("shard 0 server", shard=(0, 2))
    theirs = emu.add_guild("shard 1 server", shard=(1, 2), locale="en-US")
    announced, digested = emu.add_channel(theirs, "news"), emu.add_channel(theirs, "weekly-reading")
    clock = ManualClock(start=DAY_START)
    posts = make_blog(tmp_path / "posts")
    settings = replace(bot_settings(emu, posts, tmp_path / "kiji.sqlite3"), shard_count=2, shard_ids=(0,))
    store = store_for(settings.store_url, clock=clock.time)
    lease = SyncLease(store, holder="the only process", seconds=30, clock=clock)
    bot = ShardedKijiBot(settings, store, lease=lease, clock=clock, guild_ready_timeout=0.05)
    async with running_client(emu, bot, settings.discord_token or ""):
        assert bot.get_guild(mine) is not None and bot.get_guild(theirs) is None  # shard 1's is not in its cache
        await bot.duties.check()  # what its renewal loop does at once: it takes the lease and starts sending
        assert bot.duties.active and lease.generation == 1
        await asyncio.wait_for(bot.sync.synced_once(), 30)
        await store.subscribe(theirs, announced, "text", now=clock.time())
        await store.subscribe(theirs, digested, "text", now=clock.time(), digest=("daily", 9, 0), timezone="UTC")

        clock.advance(60)
        write_post(posts, "2026-03-02-across.md", "シャードを越えて", "別のシャードのサーバーにも届く記事です。")
        await bot.sync.sync_now()
        await bot.announcer.run_round()
        clock.advance(9 * 3600)  # 09:01: the day's digest period ended at 09:00
        await bot.digests.run_round()

    titles = [m["embeds"][0]["title"] for m in emu.sent_messages.get(announced, [])]
    assert titles == ["シャードを越えて"]
    [digest] = emu.sent_messages.get(digested, [])
    assert "シャードを越えて" in "\n".join(e.get("description", "") for e in digest["embeds"])
    check = store_for(settings.store_url)
    await check.connect()
    try:
        assert {s.channel_id: s.paused_reason for s in await check.subscriptions()} == {
            announced: None,
            digested: None,
        }
    finally:
        await check.close()
