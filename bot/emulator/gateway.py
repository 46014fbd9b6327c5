"""The emulated gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with replay, dispatches.

One session at a time (one bot, unsharded). Every dispatch is kept for RESUME, so events sent while the bot is
disconnected arrive when it resumes, as on Discord.
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
    seq: int = 0
    events: list[tuple[int, str, Any]] = field(default_factory=list)


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
        self._session: _Session | None = None
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
        return self._session is not None

    async def close_all(self) -> None:
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)

    async def echo(self, event: str, data: dict[str, Any], intent: int) -> None:
        """Dispatch the gateway event Discord sends for the bot's own action, if its intents ask for it."""
        if self._session is not None and self.intents is not None and self.intents & intent:
            await self.dispatch(event, data)

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
        session = _Session(id=secrets.token_hex(16))
        self._session = session
        conn.session = session
        self._current = conn
        self.identify_count += 1
        self.intents = int(d["intents"])
        ready = {
            "v": 10,
            "user": self.world.bot_user,
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.joined_guilds()],
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
        await self.dispatch("READY", ready)
        for guild_id in self.world.joined_guilds():
            await self.dispatch("GUILD_CREATE", self.world.guild_create(guild_id))
        self.ready_count += 1
        await self.monitor.changed()

    async def _resume(self, conn: _Connection, d: dict[str, Any]) -> None:
        session = self._session
        if d.get("token") != self.token:
            self.monitor.violation("gateway", "RESUME with a wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        if session is None or d.get("session_id") != session.id:
            async with self._send_lock:
                await conn.send({"op": 9, "d": False})
            return
        seq = d.get("seq") or 0
        async with self._send_lock:
            conn.session = session
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
        await self.dispatch(
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
        """Send a DISPATCH to the bot (buffered for RESUME when disconnected); returns its sequence number."""
        session = self._session
        if session is None:
            raise RuntimeError("the bot has not identified yet")
        async with self._send_lock:
            session.seq += 1
            session.events.append((session.seq, event, data))
            conn = self._current
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
