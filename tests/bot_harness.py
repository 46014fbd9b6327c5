"""Run the real Kiji bot against the loopback Discord emulator.

The bot is configured exactly as a user would configure it — settings with
`DISCORD_API_BASE` pointing at the emulator — and everything it does goes over
127.0.0.1 through discord.py. Nothing of Kiji's own is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import aiosqlite
import discord
import yarl

from bot.clock import Clock, ManualClock
from bot.discord.client import KijiBot
from bot.emulator import FORUM, MANAGE_GUILD, SEND_MESSAGES, DiscordEmulator
from bot.services.llm import client_from_settings
from bot.services.webhooks import WebhookConfig
from bot.settings import Settings
from bot.store import store_for

ClientT = TypeVar("ClientT", bound=discord.Client)


@dataclass
class World:
    """The emulated Discord and the running bot, with the people and places tests use."""

    emu: DiscordEmulator
    bot: KijiBot
    guild: int
    channel: int
    admin: int
    member: int
    posts_dir: Path
    db_path: Path
    channels: dict[str, int]
    role: int
    clock: ManualClock | None = None


def bot_settings(emu: DiscordEmulator, posts_dir: Path, db_path: Path, **overrides: object) -> Settings:
    settings = Settings(
        posts_dir=posts_dir,
        site_dir=None,
        db_path=db_path,
        site_url="https://blog.example.org",
        discord_token=emu.token,
        api_base=emu.api_base,
        poll_seconds=3600.0,
    )
    return replace(settings, **overrides)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_client(
    emu: DiscordEmulator, client: ClientT, token: str, ready_timeout_s: float = 30
) -> AsyncIterator[ClientT]:
    """Run any discord.py client against the emulator until it is ready; close it afterwards.

    discord.py keeps its REST base and gateway in class attributes; they are restored so
    the next test starts from discord.py's own defaults.
    """
    saved_base, saved_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    task = asyncio.create_task(client.start(token))
    try:
        await emu.wait_until_ready(timeout_s=ready_timeout_s)
        await client.wait_until_ready()
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
        discord.http.Route.BASE = saved_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved_gateway


@contextlib.asynccontextmanager
async def running_bot(
    emu: DiscordEmulator,
    settings: Settings,
    ready_timeout_s: float = 30,
    clock: Clock | None = None,
    webhook: WebhookConfig | None = None,
) -> AsyncIterator[KijiBot]:
    """Start Kiji configured by `settings`, wait until it has identified and synced.

    With a `clock` (a ManualClock, say), the bot and its store take their time from it; with a
    `webhook`, the bot listens for pushes.
    """
    llm = client_from_settings(settings)
    if clock is None:
        bot = KijiBot(settings, store_for(settings.store_url), llm, guild_ready_timeout=0.05, webhook=webhook)
    else:
        store = store_for(settings.store_url, clock=clock.time)
        bot = KijiBot(settings, store, llm, clock=clock, guild_ready_timeout=0.05, webhook=webhook)
    async with running_client(emu, bot, settings.discord_token or "", ready_timeout_s) as running:
        # Blogs are read in the background while the bot logs in; the tests start from a read blog.
        await asyncio.wait_for(running.sync.synced_once(), ready_timeout_s)
        yield running


async def poll_and_deliver(bot: KijiBot) -> None:
    """What a file event or a poll does in the running bot: ingest what changed, then a delivery round."""
    await bot.sync.sync_now()
    await bot.announcer.run_round()


def populate(emu: DiscordEmulator) -> tuple[int, int, int, int]:
    """A guild with a text channel, an admin (Manage Server) and a plain member."""
    guild = emu.add_guild("Kiji test server", locale="ja")
    channel = emu.add_channel(guild, "general")
    admin = emu.add_member(guild, name="admin", permissions=MANAGE_GUILD)
    member = emu.add_member(guild, name="reader")
    return guild, channel, admin, member


def add_places(emu: DiscordEmulator, guild: int) -> tuple[dict[str, int], int]:
    """More channels and a role, created before the bot connects so they arrive in GUILD_CREATE."""
    closed = [{"id": guild, "type": 0, "deny": SEND_MESSAGES}]
    channels = {
        "second": emu.add_channel(guild, "second"),
        "third": emu.add_channel(guild, "third"),
        "fourth": emu.add_channel(guild, "fourth"),
        "closed": emu.add_channel(guild, "closed", permission_overwrites=closed),
        "forum": emu.add_channel(guild, "news-forum", FORUM, available_tags=["ai", "rag"]),
    }
    return channels, emu.add_role(guild, "readers")


__all__ = ["World", "add_places", "bot_settings", "populate", "running_bot", "running_client", "yarl"]


async def connection_thread_niceness(connection: aiosqlite.Connection) -> int:
    """The niceness of the thread that runs `connection`'s statements, asked from inside it."""
    await connection.create_function(
        "thread_niceness", 0, lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    )
    async with connection.execute("SELECT thread_niceness()") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])
