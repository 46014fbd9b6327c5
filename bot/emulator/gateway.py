"""The emulated gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with replay, dispatches.

Several sessions at once, as Discord allows: each IDENTIFY opens one, for the shard it names (``shard``: [id,
count]; none means [0, 1], every guild). A session gets only its shard's guilds (``(guild_id >> 22) % count``) and
their events; events of no guild (DMs) go to shard 0, as on Discord. Two processes that identify for the same shard
both get every event of it, so both would answer an interaction, as they would on Discord. Every dispatch is kept
per session for RESUME, so events sent while a bot is disconnected arrive when it resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .records import Monitor, snowflake_arg
from .world import World


@dataclass
class _Session:
    id: str
    shard: tuple[int, int] = (0, 1)
    intents: int = 0
    seq: int = 0
    events: list[tuple[int, str, Any]] = field(default_factory=list)
    conn: _Connection | None = None

    def serves(self, guild_id: int | None) -> bool:
        """Whether this session's shard gets the events of `guild_id` (None: no guild, shard 0's)."""
        shard_id, count = self.shard
        return shard_id == 0 if guild_id is None else shard_of(guild_id, count) == shard_id


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard a guild's events go to, Discord's formula."""
    return (guild_id >> 22) % shard_count


def _guild_of(event: str, data: Any) -> int | None:
    if not isinstance(data, Mapping):
        return None
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        return snowflake_arg(data["id"])
    return snowflake_arg(data["guild_id"]) if data.get("guild_id") else None


class _Connection:
    def __init__(self, ws: web.WebSocketResponse, compress: str | None, path: str) -> None:
        self.ws = ws
        self.path = path
        self.session: _Session | None = None
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd: Any = None
        if compress == "zstd-stream":
            import zstandard  # type: ignore[import-not-found]

            self._zstd = zstandard.ZstdCompressor().compressobj()
            self._zstd_flush = zstandard.COMPRESSOBJ_FLUSH_BLOCK

    async def send(self, payload: Mapping[str, Any]) -> None:
        raw = json.dumps(payload, separators=(",", ":")).encode()
        if self._zlib is not None:
            await self.ws.send_bytes(self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
        elif self._zstd is not None:
            await self.ws.send_bytes(self._zstd.compress(raw) + self._zstd.flush(self._zstd_flush))
        else:
            await self.ws.send_str(raw.decode())


class Gateway:
    """The websocket side of the emulator (``/gateway`` and ``/resume-gateway``)."""

    def __init__(self, world: World, monitor: Monitor, token: str, heartbeat_interval_ms: int = 41250) -> None:
        self.world = world
        self.monitor = monitor
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        #: ``ws://127.0.0.1:PORT``, set by the emulator once it listens.
        self.ws_base = "ws://127.0.0.1"
        self.identify_count = 0
        self.resume_count = 0
        self.ready_count = 0
        self.heartbeats = 0
        self.gateway_paths: list[str] = []
        #: The intents the bot identified with (None before IDENTIFY).
        self.intents: int | None = None
        #: Close the gateway at IDENTIFY with this code instead of answering READY (e.g. 4014: the bot asks
        #: for a privileged intent not enabled in the Developer Portal).
        self.refuse_identify_with: int | None = None
        #: Every session opened so far, by id (a closed connection's session may still RESUME).
        self._sessions: dict[str, _Session] = {}
        #: The connection that identified or resumed last (the one `drop_connection` closes).
        self._current: _Connection | None = None
        self._connections: set[_Connection] = set()
        self._send_lock = asyncio.Lock()

    @property
    def gateway_url(self) -> str:
        return f"{self.ws_base}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"{self.ws_base}/resume-gateway"

    @property
    def identified(self) -> bool:
        return bool(self._sessions)

    def connected_shards(self) -> list[tuple[int, int]]:
        """The [id, count] of every session with an open connection, in the order they identified."""
        return [s.shard for s in self._sessions.values() if s.conn is not None and not s.conn.ws.closed]

    async def close_all(self) -> None:
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)

    async def echo(self, event: str, data: dict[str, Any], intent: int) -> None:
        """Dispatch the gateway event Discord sends for the bot's own action, if its intents ask for it."""
        await self._route(event, data, intent)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        query = request.query
        compress = query.get("compress")
        self.gateway_paths.append(request.path)
        if query.get("v") != "10" or query.get("encoding", "json") != "json":
            self.monitor.violation("gateway", f"unsupported query {dict(query)} (need v=10, encoding=json)")
            await ws.close(code=4012, message=b"Invalid API version")
            return ws
        if compress not in (None, "zlib-stream", "zstd-stream"):
            self.monitor.violation("gateway", f"unknown compress={compress}")
            await ws.close(code=4000, message=b"Unknown compression")
            return ws
        try:
            conn = _Connection(ws, compress, request.path)
        except ImportError:
            self.monitor.violation("gateway", "zstd-stream requested but no zstandard module in the emulator")
            await ws.close(code=4000)
            return ws
        self._connections.add(conn)
        try:
            async with self._send_lock:
                await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    self.monitor.violation("gateway", f"unexpected websocket frame {msg.type!r}")
                    continue
                try:
                    payload = json.loads(msg.data)
                except json.JSONDecodeError:
                    self.monitor.violation("gateway", "non-JSON text frame")
                    await ws.close(code=4002, message=b"Decode error")
                    break
                await self._on_gateway_message(conn, payload)
        finally:
            self._connections.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            if self._current is conn:
                self._current = None
            await self.monitor.changed()
        return ws

    async def _on_gateway_message(self, conn: _Connection, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            self.heartbeats += 1
            async with self._send_lock:
                await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, d or {})
        elif op == 6:
            await self._resume(conn, d or {})
        elif op == 8:
            await self._request_members(conn, d or {})
        elif op in (3, 4):
            pass
        else:
            self.monitor.violation("gateway", f"unknown opcode {op}")
            await conn.ws.close(code=4001, message=b"Unknown opcode")

    async def _identify(self, conn: _Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            self.monitor.violation("gateway", "IDENTIFY with a wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        if "intents" not in d:
            self.monitor.violation("gateway", "IDENTIFY without intents")
            await conn.ws.close(code=4013, message=b"Invalid intent(s)")
            return
        if self.refuse_identify_with is not None:
            await conn.ws.close(code=self.refuse_identify_with, message=b"refused by the emulator")
            return
        shard = d.get("shard", [0, 1])
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(n, int) for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            self.monitor.violation("gateway", f"IDENTIFY with an invalid shard {shard!r}")
            await conn.ws.close(code=4010, message=b"Invalid shard")
            return
        session = _Session(id=secrets.token_hex(16), shard=(shard[0], shard[1]), intents=int(d["intents"]), conn=conn)
        self._sessions[session.id] = session
        conn.session = session
        self._current = conn
        self.identify_count += 1
        self.intents = session.intents
        guilds = [g for g in self.world.joined_guilds() if session.serves(g)]
        ready = {
            "v": 10,
            "user": self.world.bot_user,
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.world.application_id), "flags": self.world.application_json()["flags"]},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["emulator"],
        }
        if "shard" in d:  # Discord echoes the shard of a sharded IDENTIFY
            ready["shard"] = list(session.shard)
        await self._send(session, "READY", ready)
        for guild_id in guilds:
            await self._send(session, "GUILD_CREATE", self.world.guild_create(guild_id))
        self.ready_count += 1
        await self.monitor.changed()

    async def _resume(self, conn: _Connection, d: dict[str, Any]) -> None:
        session = self._sessions.get(str(d.get("session_id")))
        if d.get("token") != self.token:
            self.monitor.violation("gateway", "RESUME with a wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        if session is None:
            async with self._send_lock:
                await conn.send({"op": 9, "d": False})
            return
        seq = d.get("seq") or 0
        async with self._send_lock:
            conn.session = session
            session.conn = conn
            self._current = conn
            for s, t, data in session.events:
                if s > seq:
                    await conn.send({"op": 0, "s": s, "t": t, "d": data})
            session.seq += 1
            session.events.append((session.seq, "RESUMED", {"_trace": ["emulator"]}))
            await conn.send({"op": 0, "s": session.seq, "t": "RESUMED", "d": {"_trace": ["emulator"]}})
        self.resume_count += 1
        await self.monitor.changed()

    async def _request_members(self, conn: _Connection, d: dict[str, Any]) -> None:
        guild = self.world.guilds.get(snowflake_arg(d.get("guild_id", 0)))
        if guild is None:
            return
        if conn.session is None:
            return
        await self._send(
            conn.session,
            "GUILD_MEMBERS_CHUNK",
            {
                "guild_id": guild["id"],
                "members": list(guild["members"].values()),
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
                "presences": [],
                **({"nonce": d["nonce"]} if d.get("nonce") else {}),
            },
        )

    async def dispatch(self, event: str, data: Any) -> int:
        """Send a DISPATCH to the sessions of its guild's shard (buffered for RESUME when disconnected).

        Returns the sequence number it got in the last of them.
        """
        if not self._sessions:
            raise RuntimeError("the bot has not identified yet")
        return await self._route(event, data)

    async def _route(self, event: str, data: Any, intent: int | None = None) -> int:
        guild_id = _guild_of(event, data)
        seq = 0
        for session in list(self._sessions.values()):
            if session.serves(guild_id) and (intent is None or session.intents & intent):
                seq = await self._send(session, event, data)
        return seq

    async def _send(self, session: _Session, event: str, data: Any) -> int:
        async with self._send_lock:
            session.seq += 1
            session.events.append((session.seq, event, data))
            conn = session.conn
            if conn is not None and conn.session is session and not conn.ws.closed:
                with contextlib.suppress(ConnectionResetError, RuntimeError):
                    await conn.send({"op": 0, "s": session.seq, "t": event, "d": data})
            return session.seq

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the bot's gateway connection with ``code`` (resumable by default: the bot should RESUME)."""
        conn = self._current
        if conn is None:
            raise RuntimeError("no gateway connection to drop")
        self._current = None
        await conn.ws.close(code=code, message=b"dropped by the emulator")

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT (the bot should reconnect and RESUME)."""
        conn = self._current
        if conn is None:
            raise RuntimeError("no gateway connection")
        async with self._send_lock:
            await conn.send({"op": 7, "d": None})
