"""The bot class: wiring, command sync, localisation, the one error path, clean shutdown."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import discord
import pytest
from bot_harness import bot_settings, populate, running_bot
from factories import make_blog

from bot.discord.client import KijiBot, cog_modules
from bot.emulator import DiscordEmulator
from bot.settings import Settings
from bot.store import Store


def test_every_cog_imports_and_command_names_do_not_collide() -> None:
    modules = cog_modules()
    assert {"cogs.posts", "cogs.tags", "cogs.search", "cogs.announcements"} <= set(modules)
    names: list[str] = []
    for name in modules:
        module = importlib.import_module(name)
        assert callable(module.setup), name
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, discord.ext.commands.Cog) and value.__module__ == name:
                names.extend(command.name for command in value.__cog_app_commands__)
    assert len(names) == len(set(names)), sorted(names)
    assert {"summary", "tag", "tags", "search", "latest", "random", "about", "related", "subscribe"} <= set(names)


async def test_commands_sync_once_then_only_when_changed(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator
    populate(emu)
    settings = bot_settings(emu, make_blog(tmp_path / "posts"), tmp_path / "kiji.sqlite3")
    async with running_bot(emu, settings) as bot:
        assert emu.command_syncs == 1
        synced = {c["name"]: c for c in emu.global_commands.values()}
        summary = synced["summary"]
        assert summary["name_localizations"]["ja"] == "要約"
        assert summary["description_localizations"]["ja"] == "記事の要約を表示します"
        assert summary["name_localizations"]["en-US"] == "summary"
        option = summary["options"][0]
        assert option["name_localizations"]["ja"] == "記事" and option["autocomplete"] is True
        subscribe = synced["subscribe"]
        assert int(subscribe["default_member_permissions"]) == 1 << 5  # Manage Server
        assert subscribe.get("contexts") == [0] or subscribe.get("dm_permission") is False
        assert not await bot.sync_commands_if_changed()  # same tree: no request
    async with running_bot(emu, settings):
        pass
    assert emu.command_syncs == 1  # a restart with the same tree does not sync again
    async with running_bot(emu, settings) as bot:
        bot.tree.remove_command("about")
        assert await bot.sync_commands_if_changed()
    assert emu.command_syncs == 2


async def test_another_application_on_the_same_store_syncs(
    discord_emulator: DiscordEmulator, tmp_path: Path, openapi_spec_path: Path
) -> None:
    posts, db = make_blog(tmp_path / "posts"), tmp_path / "kiji.sqlite3"
    populate(discord_emulator)
    async with running_bot(discord_emulator, bot_settings(discord_emulator, posts, db)):
        pass
    other = DiscordEmulator(spec_path=openapi_spec_path)  # a different application id
    await other.start()
    try:
        populate(other)
        async with running_bot(other, bot_settings(other, posts, db)):
            pass
        assert other.command_syncs == 1
    finally:
        await other.stop()
    other.assert_no_violations()


async def test_dev_guild_gets_the_commands(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator
    guild, *_ = populate(emu)
    settings = bot_settings(emu, make_blog(tmp_path / "posts"), tmp_path / "kiji.sqlite3", dev_guild_id=guild)
    async with running_bot(emu, settings):
        handle = await emu.slash_command("about", guild_id=guild, locale="en-US")
        assert (await handle.response())["type"] == 4
    assert "summary" in {c["name"] for c in emu.guild_commands[guild].values()}


async def test_gateway_comes_from_the_configured_api(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator
    populate(emu)
    settings = bot_settings(emu, make_blog(tmp_path / "posts"), tmp_path / "kiji.sqlite3")
    async with running_bot(emu, settings):
        assert any(r.path.endswith("/gateway/bot") for r in emu.requests)
        assert emu.identify_count == 1
        assert emu.intents == 1  # guilds only: no message content, no members


async def test_errors_are_logged_and_answered_ephemerally(
    discord_emulator: DiscordEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emu = discord_emulator
    populate(emu)
    settings = bot_settings(emu, make_blog(tmp_path / "posts"), tmp_path / "kiji.sqlite3")
    async with running_bot(emu, settings) as bot:
        # Break the store underneath a command the way a full disk or corrupt file would.
        await bot.store.close()
        with caplog.at_level(logging.ERROR, logger="bot.discord.client"):
            handle = await emu.slash_command("latest", locale="en-US")
            data = (await handle.response())["data"]
        assert data["flags"] & 64 and "Something went wrong" in data["content"]
        assert any(r.exc_info for r in caplog.records if "command /latest failed" in r.getMessage())
        await bot.store.connect()


async def test_close_leaves_the_store_closed_and_consistent(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator
    populate(emu)
    db = tmp_path / "kiji.sqlite3"
    settings = bot_settings(emu, make_blog(tmp_path / "posts"), db)
    async with running_bot(emu, settings) as bot:
        store = bot.store
    assert not store.connected
    reopened = await Store.open(db)
    try:
        assert len(await reopened.all_posts()) == 27
    finally:
        await reopened.close()


def test_constructor_takes_settings_and_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.sqlite3")
    bot = KijiBot(Settings(posts_dir=tmp_path, site_dir=None, db_path=tmp_path / "k.sqlite3"), store)
    assert bot.store is store and not store.connected  # connecting is setup_hook's job
    assert bot.intents.value == discord.Intents(guilds=True).value
    assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict()["parse"] == []
