"""Fixtures for end-to-end cog tests: the real bot on the loopback Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from bot_harness import World, add_places, bot_settings, populate, running_bot
from factories import make_blog

from bot.clock import ManualClock
from bot.emulator import DiscordEmulator


@pytest_asyncio.fixture
async def world(
    discord_emulator: DiscordEmulator, tmp_path: Path, store_backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    """The bot on the emulator with a blog; its store is a SQLite file, or PostgreSQL where a module asks for both."""
    from postgres_server import store_location  # a plugin (pytest_plugins): imported once pytest has loaded it

    guild, channel, admin, member = populate(discord_emulator)
    channels, role = add_places(discord_emulator, guild)
    posts_dir = make_blog(tmp_path / "posts")
    db_path = tmp_path / "kiji.sqlite3"
    clock = ManualClock()  # time stands still unless a test moves it
    async with store_location(request, store_backend, tmp_path) as location:
        settings = bot_settings(discord_emulator, posts_dir, db_path, database_url=location)
        async with running_bot(discord_emulator, settings, clock=clock) as bot:
            yield World(discord_emulator, bot, guild, channel, admin, member, posts_dir, db_path, channels, role, clock)
