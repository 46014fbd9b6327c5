"""Keeping several blogs in sync, end to end: a hung git server, a blog removed from the configuration,
a post that a force-push dropped and a push brought back (issue 21 points 6, 7 and 8).

The real bot on the loopback Discord, real folders, real `git daemon`, and for the hang a real
TCP listener on 127.0.0.1 that takes git's connection and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bot_harness import bot_settings, poll_and_deliver, populate, running_bot, running_client
from factories import make_blog, write_post
from git_bot_world import GitWorld, git_bot_settings
from git_server import BlogRemotes, GitDaemon

from bot.clock import ManualClock
from bot.discord.client import KijiBot
from bot.emulator import DiscordEmulator
from bot.services.sync import BlogSync
from bot.settings import Settings
from bot.sources.factory import sources_from_specs
from bot.store import Store


class HungServer:
    """Accepts connections on 127.0.0.1 and never answers: a git server hanging mid-clone."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.open = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.open += 1
        self.connected.set()
        try:
            await reader.read()  # until the client gives up
        finally:
            self.open -= 1

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[int]:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        try:
            yield self._server.sockets[0].getsockname()[1]
        finally:
            for writer in self._writers:
                writer.close()
            self._server.close()
            await self._server.wait_closed()


async def about(emu: DiscordEmulator) -> dict[str, object]:
    handle = await emu.slash_command("about", locale="en-US", timeout_s=15)
    return await handle.response()


async def test_a_hung_git_server_holds_neither_the_start_nor_another_blogs_announcements(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    _guild, channel, admin, _member = populate(emu)
    folder = make_blog(tmp_path / "posts")
    hung = HungServer()
    async with hung.listening() as port:
        specs = (f"git+http://127.0.0.1:{port}/blog.git", str(folder))
        settings = bot_settings(emu, folder, tmp_path / "kiji.sqlite3", sources=specs, data_dir=tmp_path / "data")
        clock = ManualClock()
        store = Store(settings.db_path, clock=clock.time)
        sources = sources_from_specs(settings.source_specs, settings.data_dir)
        sync = BlogSync(store, sources, poll_seconds=3600.0, clock=clock, source_timeout_s=600.0)
        bot = KijiBot(settings, store, sync=sync, clock=clock, guild_ready_timeout=0.05)
        # Logged in and answering while the git server holds the clone (it waited up to 900 s before).
        async with running_client(emu, bot, settings.discord_token or "", ready_timeout_s=20):
            await asyncio.wait_for(hung.connected.wait(), 20)
            assert (await about(emu))["type"] == 4
            folder_name = sources[1].name
            await sync.sync_now([folder_name])  # the folder blog is read while the other hangs
            handle = await emu.slash_command("subscribe", {"channel": channel}, user=admin, locale="en-US")
            assert "will be announced" in (await handle.response())["data"]["content"]

            clock.advance(1.0)
            write_post(folder, "2025-08-01-while-hung.md", "A post while the other blog hangs", "本文です。")
            await sync.sync_now([folder_name])  # what its file event or a push does
            await emu.wait_for(lambda: len(emu.sent_messages.get(channel, [])) == 1, 20, "the folder blog's post")
            [message] = emu.sent_messages[channel]
            assert message["embeds"][0]["title"] == "A post while the other blog hangs"
            assert hung.open == 1 and sources[0].name not in sync.outcomes  # still hanging meanwhile

            reported = asyncio.Event()
            sync.listeners.append(lambda outcome: reported.set() if outcome.source is sources[0] else None)
            clock.advance(600.0)  # the hung blog's own time limit: it alone is stopped and reported
            await asyncio.wait_for(reported.wait(), 20)
            error = sync.outcomes[sources[0].name].error or ""
            assert "took over 600 s and was stopped" in error
            [hung_row] = [blog for blog in await store.sources() if blog.name == sources[0].name]
            assert hung_row.last_error == error


async def subscriptions_text(emu: DiscordEmulator, admin: int) -> str:
    handle = await emu.slash_command("subscriptions", user=admin, locale="en-US")
    return str((await handle.response())["data"])


async def test_a_blog_removed_from_the_configuration_pauses_its_subscriptions_and_no_others(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    guild, channel, admin, _member = populate(emu)
    following_all = emu.add_channel(guild, "all-blogs")
    kept = make_blog(tmp_path / "kept", tagged_ai=1)
    removed = tmp_path / "removed"
    removed.mkdir()
    write_post(removed, "2025-06-01-removed.md", "The removed blog's post", "本文です。")
    db = tmp_path / "kiji.sqlite3"

    def settings_with(*folders: Path) -> Settings:
        return bot_settings(emu, kept, db, sources=tuple(map(str, folders)), site_url=None)

    async with running_bot(emu, settings_with(kept, removed)) as bot:
        removed_id = (await bot.store.sources())[1].id
        handle = await emu.slash_command(
            "subscribe", {"channel": channel, "blog": str(removed_id)}, user=admin, locale="en-US"
        )
        assert "will be announced" in (await handle.response())["data"]["content"]
        handle = await emu.slash_command("subscribe", {"channel": following_all}, user=admin, locale="en-US")
        assert "will be announced" in (await handle.response())["data"]["content"]

    async with running_bot(emu, settings_with(kept)) as bot:  # the removed blog is no longer configured
        listed = await subscriptions_text(emu, admin)
        assert f"the blog {removed} is no longer configured" in listed, listed
        [on_removed] = [s for s in await bot.store.subscriptions() if s.channel_id == channel]
        [on_all] = [s for s in await bot.store.subscriptions() if s.channel_id == following_all]
        assert not on_removed.active and on_all.active
        write_post(kept, "2025-08-02-kept.md", "The kept blog goes on", "本文です。")
        await poll_and_deliver(bot)
        assert [m["embeds"][0]["title"] for m in emu.sent_messages.get(following_all, [])] == ["The kept blog goes on"]
        assert emu.sent_messages.get(channel, []) == []
        # Its posts are still served, labelled as no longer configured.
        handle = await emu.slash_command("search", {"query": "removed"}, user=admin, locale="en-US")
        assert "(no longer configured)" in str((await handle.response())["data"])

    async with running_bot(emu, settings_with(kept, removed)) as bot:  # and back: the pause is lifted
        [on_removed] = [s for s in await bot.store.subscriptions() if s.channel_id == channel]
        assert on_removed.active
        assert "no longer configured" not in await subscriptions_text(emu, admin)


async def test_a_post_a_force_push_dropped_is_not_new_when_a_push_restores_it(
    discord_emulator: DiscordEmulator, git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> None:
    _guild, channel, admin, _member = populate(discord_emulator)
    remote = blog_remotes.blog(posts=4)
    settings = git_bot_settings(discord_emulator, git_daemon.url(remote), tmp_path)
    async with running_bot(discord_emulator, settings) as bot:
        world = GitWorld(discord_emulator, bot, remote, channel, admin)
        assert "will be announced" in await world.subscribe()
        dropped = f"_posts/{remote.posts()[0]}"
        text = remote.read(dropped)
        title = next(p.title for p in await bot.store.all_posts() if p.path == dropped)

        remote.delete(dropped)
        remote.rewrite_history("Start the history again without an old post")
        await world.check()
        assert dropped not in {post.path for post in await bot.store.all_posts()}

        remote.write(dropped, text)  # restored, along with a post that is really new
        new_title = world.push_post()
        await world.check()
        assert dropped in {post.path for post in await bot.store.all_posts()}
        await world.check()
        assert world.titles() == [new_title], f"{title!r} came back and was announced as new"
