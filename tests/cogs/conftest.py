"""Fixtures for end-to-end cog tests: the real bot on the loopback Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from bot_harness import World, add_places, bot_settings, populate, running_bot
from factories import make_blog

from bot.clock import ManualClock
from bot.emulator import DiscordEmulator


@pytest_asyncio.fixture
async def world(discord_emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[World]:
    guild, channel, admin, member = populate(discord_emulator)
    channels, role = add_places(discord_emulator, guild)
    posts_dir = make_blog(tmp_path / "posts")
    db_path = tmp_path / "kiji.sqlite3"
    clock = ManualClock()  # time stands still unless a test moves it
    async with running_bot(discord_emulator, bot_settings(discord_emulator, posts_dir, db_path), clock=clock) as bot:
        yield World(discord_emulator, bot, guild, channel, admin, member, posts_dir, db_path, channels, role, clock)
