"""A blog added while the bot runs: its first read is its past, even while that read is still going.

The real bot on the loopback Discord follows a folder blog; it is started again with a web blog
added (served from 127.0.0.1 by `tests/web_server.py`). The web blog's first read stores its feed's
newest entries, then fills its archive from the sitemap; the test holds the archive's first page, so
the read is still going when an announcer round runs. Nothing of the new blog may be announced then,
nor once the read has ended; a post published after it is announced once.
"""

from __future__ import annotations

import asyncio

from bot_harness import poll_and_deliver, running_bot, running_client
from test_web_blogs import DAY, WebWorld, web_world

from bot.discord.client import KijiBot
from bot.services.llm import client_from_settings
from bot.sources.web import WebSource
from bot.store import store_for

__all__ = ["web_world"]  # the fixture, used by name


async def test_an_announcer_round_during_a_new_blogs_first_read_announces_none_of_its_posts(
    web_world: WebWorld,
) -> None:
    world, server = web_world, web_world.server
    async with running_bot(world.emu, world.settings(str(world.folder)), clock=world.clock):
        await world.subscribe()  # a channel following every blog, from before the web blog was added

    world.clock.advance(60.0)
    held = server.hold("/zeppelin-history/")  # a page of the archive: the first read waits there
    settings = world.settings(str(world.folder), server.url("/"))
    bot = KijiBot(
        settings,
        store_for(settings.store_url, clock=world.clock.time),
        client_from_settings(settings),
        clock=world.clock,
        guild_ready_timeout=0.05,
    )
    async with running_client(world.emu, bot, settings.discord_token or "", 30):
        try:
            assert await asyncio.to_thread(held.arrived.wait, 30), "the backfill never asked for the page"
            [web_source] = [source for source in bot.sources if isinstance(source, WebSource)]
            assert web_source.name not in bot.sync.outcomes  # its first read is still going
            # its newest posts are readable meanwhile...
            assert "Feed: second entry" in await world.search("second")
            await bot.announcer.run_round()  # ...and an announcer round now announces none of them
            assert world.titles() == []
        finally:
            held.release()
        await asyncio.wait_for(bot.sync.synced_once(), 30)
        assert bot.sync.outcomes[web_source.name].error is None
        await bot.announcer.run_round()
        assert world.titles() == []  # the whole first read is the blog's past
        assert "Archive: zeppelin history" in await world.search("zeppelin")

        world.clock.advance(60.0)
        world.blog.add("feed-three", "Feed: a new entry", "Brand new marmalade recipe.", world.clock.time() - DAY)
        await poll_and_deliver(bot)
        await poll_and_deliver(bot)
        assert world.titles() == ["Feed: a new entry"]  # news after the first read: announced, once
