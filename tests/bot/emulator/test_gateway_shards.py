"""The emulated gateway serves several sessions: each IDENTIFY's shard gets its own guilds and their events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from bot.emulator import DiscordEmulator


class RawSession:
    """One gateway connection spoken by hand: every DISPATCH it received, by event name."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[tuple[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            payload = json.loads(msg.data)
            if payload["op"] == 0:
                async with self._arrived:
                    self.events.append((payload["t"], payload["d"]))
                    self._arrived.notify_all()

    async def wait_for(self, predicate: Any, what: str) -> None:
        async def wait() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: predicate(self.events))

        try:
            await asyncio.wait_for(wait(), 10)
        except TimeoutError:
            raise AssertionError(f"no {what} within 10s; got {[t for t, _ in self.events]}") from None

    async def wait_for_count(self, event: str, count: int) -> None:
        await self.wait_for(lambda events: sum(t == event for t, _ in events) == count, f"{count} {event}")

    def named(self, event: str) -> list[Any]:
        return [d for t, d in self.events if t == event]


@asynccontextmanager
async def identified(
    http: aiohttp.ClientSession, emu: DiscordEmulator, shard: list[int] | None
) -> AsyncIterator[RawSession]:
    async with http.ws_connect(f"{emu.gateway_url}?v=10&encoding=json") as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10
        identify: dict[str, Any] = {"token": emu.token, "intents": 1, "properties": {}}
        if shard is not None:
            identify["shard"] = shard
        await ws.send_json({"op": 2, "d": identify})
        session = RawSession(ws)
        await session.wait_for(lambda events: any(t == "READY" for t, _ in events), "READY")
        try:
            yield session
        finally:
            await ws.close()
            await session._reader


async def test_each_shard_gets_its_guilds_and_their_interactions(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    even = emu.add_guild("even", shard=(0, 2))
    odd = emu.add_guild("odd", shard=(1, 2))
    assert ((even >> 22) % 2, (odd >> 22) % 2) == (0, 1)
    async with (
        aiohttp.ClientSession() as http,
        identified(http, emu, [0, 2]) as shard0,
        identified(http, emu, [1, 2]) as shard1,
        identified(http, emu, None) as unsharded,
    ):
        for session, guilds in ((shard0, {even}), (shard1, {odd}), (unsharded, {even, odd})):
            await session.wait_for_count("GUILD_CREATE", len(guilds))
            [ready] = session.named("READY")
            assert {int(g["id"]) for g in ready["guilds"]} == guilds
            assert ready.get("shard") == (
                None if session is unsharded else list(emu.connected_shards()[0 if session is shard0 else 1])
            )
            assert {int(g["id"]) for g in session.named("GUILD_CREATE")} == guilds
        assert emu.connected_shards() == [(0, 2), (1, 2), (0, 1)]

        for guild in (even, odd):
            await emu.dispatch("INTERACTION_CREATE", {"id": str(guild + 1), "guild_id": str(guild), "type": 2})
        await emu.dispatch("INTERACTION_CREATE", {"id": "7", "type": 2})  # a DM: shard 0's
        for session, wanted in ((shard0, {even + 1, 7}), (shard1, {odd + 1}), (unsharded, {even + 1, odd + 1, 7})):
            await session.wait_for_count("INTERACTION_CREATE", len(wanted))
            assert {int(d["id"]) for d in session.named("INTERACTION_CREATE")} == wanted


async def test_an_invalid_shard_is_refused(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{emu.gateway_url}?v=10&encoding=json") as ws:
        await ws.receive_json()
        await ws.send_json({"op": 2, "d": {"token": emu.token, "intents": 1, "properties": {}, "shard": [2, 2]}})
        closing = await ws.receive()
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4010
    [violation] = emu.take_violations()
    assert "invalid shard [2, 2]" in violation.kind + violation.detail
