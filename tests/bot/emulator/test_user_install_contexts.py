"""The emulator's user installs: contexts, installs, DMs, servers without the bot, and Discord's limits there.

Driven by a tiny discord.py client defined here, so the emulator's rules are tested apart from Kiji.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest
import pytest_asyncio
import yarl
from bot_harness import running_client
from discord import app_commands

from bot.emulator import USE_EXTERNAL_APPS, CommandNotOffered, DiscordEmulator
from bot.emulator.records import EPHEMERAL, EVERYONE_DEFAULT

ANYWHERE = {"guilds": True, "dms": True, "private_channels": True}


class TinyApp(discord.Client):
    """Commands for both installs, one server-only command, and a record of how each interaction looked."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents(guilds=True), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.seen: list[discord.Interaction] = []
        self.followup_statuses: list[int] = []
        self.followed_up = asyncio.Event()

        @self.tree.command(name="hello", description="Says hello")
        @app_commands.allowed_installs(guilds=True, users=True)
        @app_commands.allowed_contexts(**ANYWHERE)
        async def hello(interaction: discord.Interaction) -> None:
            self.seen.append(interaction)
            await interaction.response.send_message("hello")

        @self.tree.command(name="chatty", description="Follows up six times")
        @app_commands.allowed_installs(guilds=True, users=True)
        @app_commands.allowed_contexts(**ANYWHERE)
        async def chatty(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.edit_original_response(content="here they come")
            for number in range(6):
                try:
                    await interaction.followup.send(f"follow-up {number + 1}")
                    self.followup_statuses.append(200)
                except discord.HTTPException as exc:
                    self.followup_statuses.append(exc.status)
            self.followed_up.set()

        @self.tree.command(name="admin", description="Server only")
        @app_commands.guild_only()
        @app_commands.allowed_installs(guilds=True, users=False)
        async def admin(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("admin")

    async def setup_hook(self) -> None:
        await self.tree.sync()


@dataclass
class Places:
    emu: DiscordEmulator
    app: TinyApp
    guild: int
    reader: int
    friend: int
    bot_dm: int
    group: int
    open_server: int
    open_channel: int
    strict_server: int
    strict_channel: int


@pytest_asyncio.fixture
async def places(discord_emulator: DiscordEmulator) -> AsyncIterator[Places]:
    emu = discord_emulator
    guild = emu.add_guild("With the bot")
    emu.add_channel(guild, "general")
    reader, friend = emu.add_user("reader"), emu.add_user("friend")
    emu.add_member(guild, reader, "reader")
    emu.install_for_user(reader)
    open_server = emu.add_guild("Open", with_bot=False, everyone_permissions=EVERYONE_DEFAULT | USE_EXTERNAL_APPS)
    strict_server = emu.add_guild("Strict", with_bot=False, everyone_permissions=EVERYONE_DEFAULT)
    for server in (open_server, strict_server):
        emu.add_member(server, reader, "reader")
        emu.add_member(server, friend, "friend")
    app = TinyApp()
    found = Places(
        emu,
        app,
        guild,
        reader,
        friend,
        bot_dm=emu.add_dm(reader),
        group=emu.add_group_dm([reader, friend], "pair"),
        open_server=open_server,
        open_channel=emu.add_channel(open_server, "chat"),
        strict_server=strict_server,
        strict_channel=emu.add_channel(strict_server, "chat"),
    )
    # running_client restores discord.py's own defaults afterwards.
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    async with running_client(emu, app, emu.token):
        await emu.wait_for_commands(["hello", "chatty", "admin"])
        yield found


async def test_only_servers_with_the_bot_are_announced(places: Places) -> None:
    assert [guild.id for guild in places.app.guilds] == [places.guild]
    with pytest.raises(discord.Forbidden):
        await places.app.http.get_guild(places.open_server)
    with pytest.raises(discord.Forbidden):  # a group DM: no bot can post there
        await places.app.http.send_message(places.group, params=discord.http.handle_message_parameters("hi"))


async def test_discord_py_reads_each_place_as_discord_sends_it(places: Places) -> None:
    emu, app = places.emu, places.app
    for where in (
        {"channel_id": places.bot_dm},
        {"channel_id": places.group},
        {"guild_id": places.open_server, "channel_id": places.open_channel},
    ):
        await (await emu.slash_command("hello", user=places.reader, **where)).response()
    bot_dm, group, server = app.seen
    assert isinstance(bot_dm.channel, discord.DMChannel) and bot_dm.guild is None
    assert bot_dm.context.dm_channel and bot_dm.is_user_integration()
    assert isinstance(group.channel, discord.GroupChannel) and group.context.private_channel
    assert group.is_user_integration() and not group.is_guild_integration()
    assert server.guild is not None and server.guild.id == places.open_server and server.context.guild
    assert server.is_user_integration() and not server.is_guild_integration()
    assert server.permissions.use_external_apps and server.app_permissions.embed_links
    assert not server.app_permissions.manage_messages  # a user's app has no moderation rights


async def test_discord_forces_ephemeral_where_members_may_not_use_external_apps(places: Places) -> None:
    emu = places.emu
    strict = await emu.slash_command(
        "hello", user=places.reader, guild_id=places.strict_server, channel_id=places.strict_channel
    )
    assert not (strict_body := await strict.response())["data"].get("flags")  # the app asked for a public reply
    assert strict_body["type"] == 4 and (await strict.message())["flags"] & EPHEMERAL
    public = await emu.slash_command(
        "hello", user=places.reader, guild_id=places.open_server, channel_id=places.open_channel
    )
    assert not (await public.message())["flags"] & EPHEMERAL


async def test_a_user_install_may_follow_up_five_times_only(places: Places) -> None:
    emu, app = places.emu, places.app
    handle = await emu.slash_command("chatty", user=places.reader, channel_id=places.group)
    await asyncio.wait_for(app.followed_up.wait(), 10)
    assert app.followup_statuses == [200] * 5 + [400]
    assert len(handle.record.followups) == 5
    [violation] = emu.take_violations()
    assert "limit 5" in violation.detail


async def test_a_guild_install_may_follow_up_more(places: Places) -> None:
    emu, app = places.emu, places.app
    handle = await emu.slash_command("chatty", user=places.reader)  # in the server that added the bot
    await asyncio.wait_for(app.followed_up.wait(), 10)
    assert app.followup_statuses == [200] * 6 and len(handle.record.followups) == 6


@pytest.mark.parametrize("where", ["bot DM", "group DM", "server without the bot"])
async def test_a_server_only_command_is_not_offered_elsewhere(places: Places, where: str) -> None:
    target = {
        "bot DM": {"channel_id": places.bot_dm},
        "group DM": {"channel_id": places.group},
        "server without the bot": {"guild_id": places.open_server, "channel_id": places.open_channel},
    }[where]
    with pytest.raises(CommandNotOffered):
        await places.emu.slash_command("admin", user=places.reader, **target)
    await (await places.emu.slash_command("admin", user=places.reader)).response()  # where the bot is, it is


async def test_without_a_user_install_nothing_is_offered_where_the_bot_is_not(places: Places) -> None:
    emu = places.emu
    with pytest.raises(CommandNotOffered, match="not installed here"):
        await emu.slash_command(
            "hello", user=places.friend, guild_id=places.open_server, channel_id=places.open_channel
        )
    emu.install_for_user(places.friend)
    handle = await emu.slash_command(
        "hello", user=places.friend, guild_id=places.open_server, channel_id=places.open_channel
    )
    assert (await handle.response())["type"] == 4
