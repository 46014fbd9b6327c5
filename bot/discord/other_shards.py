"""Channels in servers of gateway shards this process does not run, read through REST.

The sync lease holder announces in every server, but its cache holds only its own shards' servers
(their GUILD_CREATE came over its gateway sessions). For another shard's server it reads the
guild (roles, language), its channels and its own member through REST, so the announcer checks
permissions and renders exactly as for a cached channel. Read at most once per `ttl_seconds` per
server: a fan-out to fifty channels of one server costs three requests, not a hundred and fifty.
Each read waits its turn at the announcer's pacer: it counts towards the same 50 requests/s.

What the cache would have and REST does not: the forum's active threads, so a forum post whose
recording a dead holder lost may be opened a second time here (see `Announcer._earlier_thread`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

TTL_SECONDS = 60.0


class OtherShardChannels:
    """`channel(guild_id, channel_id)`: the channel bound to a guild read through REST, or None if gone."""

    def __init__(
        self,
        client: discord.Client,
        pace: Callable[[], Awaitable[object]],
        *,
        clock: Clock = SYSTEM_CLOCK,
        ttl_seconds: float = TTL_SECONDS,
    ) -> None:
        self.client = client
        self.pace = pace
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self._guilds: dict[int, tuple[float, discord.Guild | None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def channel(self, guild_id: int, channel_id: int) -> discord.abc.GuildChannel | None:
        """Discord errors other than "gone" (a 5xx, a timeout) are raised: the announcer retries later."""
        guild = await self._guild(guild_id)
        return guild.get_channel(channel_id) if guild is not None else None

    async def _guild(self, guild_id: int) -> discord.Guild | None:
        async with self._locks.setdefault(guild_id, asyncio.Lock()):  # one read per server, however many channels
            read_at, guild = self._guilds.get(guild_id, (None, None))
            if read_at is not None and self.clock.monotonic() - read_at < self.ttl_seconds:
                return guild
            guild = await self._read(guild_id)
            self._guilds[guild_id] = (self.clock.monotonic(), guild)
            return guild

    async def _read(self, guild_id: int) -> discord.Guild | None:
        me = self.client.user
        assert me is not None, "read only once logged in"
        try:
            await self.pace()
            guild = await self.client.fetch_guild(guild_id)
            await self.pace()
            channels = await guild.fetch_channels()
            await self.pace()
            member = await guild.fetch_member(me.id)
        except (discord.NotFound, discord.Forbidden) as exc:
            log.info("server %d of another shard cannot be read (%s): the bot is not in it", guild_id, exc.status)
            return None
        # discord.py binds fetched channels to `guild` but keeps them out of its cache; the announcer
        # looks them up there (and the bot's member, for permissions), as for a cached server.
        for channel in channels:
            guild._add_channel(channel)
        guild._add_member(member)
        log.debug("read server %d of another shard through REST (%d channels)", guild_id, len(channels))
        return guild
