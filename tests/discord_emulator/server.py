"""The emulator itself: an aiohttp app serving Discord's REST API (``/api/v10``) and gateway on 127.0.0.1.

See the package docstring (``discord_emulator/__init__.py``) for how to use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import secrets
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from .validation import API_PREFIX, SpecValidator, check_request_limits, load_spec_validator

DEFAULT_TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.emulator.fake-token-not-a-secret"
DISCORD_EPOCH_MS = 1420070400000
INTERACTION_DEADLINE_S = 3.0
NONCE_WINDOW_S = 300.0

# Permission bits used by the emulator.
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
CREATE_PUBLIC_THREADS = 1 << 35
ALL_PERMISSIONS = (1 << 51) - 1
EVERYONE_DEFAULT = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
    | EMBED_LINKS
    | ATTACH_FILES
    | (1 << 6)
    | (1 << 18)  # add reactions, use external emojis
)
BOT_DEFAULT = EVERYONE_DEFAULT | CREATE_PUBLIC_THREADS | (1 << 34)  # + manage threads

GUILDS_INTENT = 1 << 0
GUILD_MESSAGES_INTENT = 1 << 9

TEXT, ANNOUNCEMENT, CATEGORY, PUBLIC_THREAD, PRIVATE_THREAD, FORUM, MEDIA = 0, 5, 4, 11, 12, 15, 16
THREAD_TYPES = {10, PUBLIC_THREAD, PRIVATE_THREAD}
EPHEMERAL = 1 << 6
LOADING = 1 << 7


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class _Snowflakes:
    """Real-looking, strictly increasing snowflakes."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def __call__(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (1 << 17) | (next(self._counter) & 0xFFF)


@dataclass
class Violation:
    """Something the bot did that real Discord would reject or that breaks the protocol."""

    kind: str
    detail: str
    method: str = ""
    path: str = ""

    def __str__(self) -> str:
        where = f" [{self.method} {self.path}]" if self.method else ""
        return f"{self.kind}{where}: {self.detail}"


@dataclass
class RecordedRequest:
    method: str
    path: str  # relative to /api/v10
    query: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class _FailureRule:
    method: str
    path_regex: re.Pattern[str]
    status: int
    remaining: int
    retry_after: float | None
    is_global: bool
    body: dict[str, Any] | None


@dataclass
class InteractionRecord:
    """Everything about one injected interaction and the bot's answers to it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    channel_id: int | None
    dispatched_at: float = 0.0
    callback: dict[str, Any] | None = None  # the initial response body the bot POSTed
    original: dict[str, Any] | None = None  # the original response message (or the clicked message)
    original_edits: int = 0
    followups: list[dict[str, Any]] = field(default_factory=list)
    deleted_original: bool = False


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


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, code: int = 0, violation: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.violation = status, message, code, violation


class InteractionHandle:
    """What an injection helper returns: await the bot's answers to one interaction."""

    def __init__(self, emulator: DiscordEmulator, record: InteractionRecord) -> None:
        self._emu = emulator
        self.record = record

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE ``d`` that was dispatched."""
        return self.record.payload

    async def response(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """The initial callback body (``{"type": 4, "data": {...}}``) once the bot has sent it."""
        await self._emu.wait_for(lambda: self.record.callback is not None, timeout_s, f"callback of {self.id}")
        assert self.record.callback is not None
        return self.record.callback

    async def choices(self, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """For autocomplete: the choices the bot returned."""
        body = await self.response(timeout_s)
        if body.get("type") != 8:
            raise AssertionError(f"expected an autocomplete result (type 8), got {body}")
        return list(body.get("data", {}).get("choices", []))

    async def message(self, timeout_s: float = 5.0, *, edits: int = 0) -> dict[str, Any]:
        """The original response message once it is final: not a "thinking…" placeholder, edited ≥ ``edits`` times.

        For a deferred response (type 5/6) this waits for the bot's edit of ``@original``.
        """

        def done() -> bool:
            msg = self.record.original
            cb = self.record.callback
            if msg is None or cb is None or self.record.original_edits < edits:
                return False
            if cb.get("type") in (5, 6):
                return self.record.original_edits > 0
            return not (msg.get("flags", 0) & LOADING)

        await self._emu.wait_for(done, timeout_s, f"final message of interaction {self.id}")
        assert self.record.original is not None
        return self.record.original

    async def followups(self, count: int = 1, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """The follow-up messages, once at least ``count`` have been sent."""
        await self._emu.wait_for(
            lambda: len(self.record.followups) >= count, timeout_s, f"{count} follow-up(s) of {self.id}"
        )
        return list(self.record.followups)


Handler = Callable[["_Request"], Awaitable[Any]]


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any
    files: list[tuple[str, str, int]]  # field name, filename, size
    headers: Mapping[str, str]


class DiscordEmulator:
    """A loopback Discord (REST ``/api/v10`` + gateway) for one bot. See the package docstring."""

    def __init__(
        self,
        *,
        spec_path: str | Path | None = None,
        token: str = DEFAULT_TOKEN,
        bot_name: str = "Kiji",
        interaction_deadline: float = INTERACTION_DEADLINE_S,
        heartbeat_interval_ms: int = 41250,
    ) -> None:
        self.token = token
        self.interaction_deadline = interaction_deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.validator: SpecValidator | None = load_spec_validator(spec_path) if spec_path else None
        self._snowflake = _Snowflakes()
        self.application_id = self._snowflake()
        self.bot_user: dict[str, Any] = self._user_json(self.application_id, bot_name, bot=True)
        self.users: dict[int, dict[str, Any]] = {self.application_id: self.bot_user}

        self.guilds: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.global_commands: dict[int, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[int, dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self.command_syncs = 0

        #: Messages the bot created through ``POST /channels/{id}/messages`` (and forum/thread starters),
        #: by channel id, in order.
        self.sent_messages: dict[int, list[dict[str, Any]]] = {}
        #: Every message the emulator knows (channel messages, interaction responses, follow-ups), by id.
        self.messages_by_id: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self._interactions_by_token: dict[str, InteractionRecord] = {}
        self._nonces: dict[tuple[int, str], tuple[float, dict[str, Any]]] = {}
        self.nonce_duplicates = 0

        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self._failures: list[_FailureRule] = []
        #: Requests per second allowed before answering 429 (global); None = unlimited.
        self.global_rate_limit: int | None = None
        self.rate_limited_count = 0
        self._request_times: deque[float] = deque()

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
        self._cond: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._register_routes()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind to 127.0.0.1 on a free port and serve."""
        self._cond = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/resume-gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Set ``discord.http.Route.BASE`` to this."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What ``GET /gateway/bot`` returns; set ``DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(this)``."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume-gateway"

    # ------------------------------------------------------------------ waiting / violations

    async def _changed(self) -> None:
        assert self._cond is not None
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
        """Wait (on state changes, no polling) until ``predicate()`` is true; TimeoutError names ``what``."""
        assert self._cond is not None, "emulator not started"
        try:
            async with self._cond:
                await asyncio.wait_for(self._cond.wait_for(predicate), timeout_s)
        except TimeoutError:
            listing = "\n".join(f"  {v}" for v in self.violations) or "  (none)"
            message = f"timed out after {timeout_s}s waiting for {what}; violations so far:\n{listing}"
            raise TimeoutError(message) from None

    async def wait_until_ready(self, timeout_s: float = 10.0) -> None:
        """Wait until the bot identified and every guild was dispatched (GUILD_CREATE)."""
        await self.wait_for(lambda: self.ready_count > 0, timeout_s, "the bot to IDENTIFY")

    async def wait_until_resumed(self, count: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until the gateway saw ``count`` successful RESUMEs in total."""
        await self.wait_for(lambda: self.resume_count >= count, timeout_s, f"{count} RESUME(s)")

    async def wait_for_commands(
        self, names: Iterable[str], guild_id: int | None = None, timeout_s: float = 10.0
    ) -> None:
        """Wait until the bot has synced commands with all these names (globally or to ``guild_id``)."""
        wanted = set(names)
        await self.wait_for(
            lambda: wanted <= {c["name"] for c in self._commands_visible(guild_id)}, timeout_s, f"commands {wanted}"
        )

    def violation(self, kind: str, detail: str, method: str = "", path: str = "") -> None:
        self.violations.append(Violation(kind, detail, method, path))

    def take_violations(self) -> list[Violation]:
        """Return and clear the recorded violations (for tests that provoke them on purpose)."""
        taken, self.violations = self.violations, []
        return taken

    def assert_no_violations(self) -> None:
        if self.violations:
            listing = "\n".join(f"  {i + 1}. {v}" for i, v in enumerate(self.violations))
            raise AssertionError(f"the bot broke Discord's rules {len(self.violations)} time(s):\n{listing}")

    # ------------------------------------------------------------------ world building

    @staticmethod
    def _user_json(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": str(user_id),
            "username": name.lower().replace(" ", "_"),
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
        }
        if bot:
            user["bot"] = True
        return user

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        locale: str = "ja",
        everyone_permissions: int = EVERYONE_DEFAULT,
        bot_permissions: int = BOT_DEFAULT,
    ) -> int:
        """Create a guild with @everyone, an owner, and the bot as member (with a role of ``bot_permissions``)."""
        guild_id = self._snowflake()
        owner_id = self._snowflake()
        self.guilds[guild_id] = {
            "id": str(guild_id),
            "name": name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": locale,
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "roles": {},
            "members": {},
            "channel_ids": [],
            "joined_at": _now_iso(),
        }
        self.guilds[guild_id]["roles"][guild_id] = self._role_json(guild_id, "@everyone", everyone_permissions, 0)
        self.add_member(guild_id, owner_id, "Owner")
        bot_role = self.add_role(guild_id, self.bot_user["global_name"], bot_permissions, managed=True)
        self.guilds[guild_id]["members"][self.application_id] = self._member_json(self.bot_user, [bot_role])
        return guild_id

    @staticmethod
    def _role_json(role_id: int, name: str, permissions: int, position: int, managed: bool = False) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }

    def add_role(self, guild_id: int, name: str, permissions: int = 0, *, managed: bool = False) -> int:
        guild = self.guilds[guild_id]
        role_id = self._snowflake()
        guild["roles"][role_id] = self._role_json(role_id, name, permissions, len(guild["roles"]), managed)
        return role_id

    @staticmethod
    def _member_json(user: dict[str, Any], roles: list[int]) -> dict[str, Any]:
        return {
            "user": user,
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in roles],
            "joined_at": _now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def add_member(
        self,
        guild_id: int,
        user_id: int | None = None,
        name: str = "member",
        *,
        permissions: int | None = None,
        roles: Iterable[int] = (),
    ) -> int:
        """Add a human member; ``permissions`` (e.g. ``MANAGE_GUILD``) creates a role with them for this member."""
        user_id = user_id or self._snowflake()
        user = self.users.setdefault(user_id, self._user_json(user_id, name))
        role_ids = list(roles)
        if permissions is not None:
            role_ids.append(self.add_role(guild_id, f"{name}-role", permissions))
        self.guilds[guild_id]["members"][user_id] = self._member_json(user, role_ids)
        return user_id

    def add_channel(
        self,
        guild_id: int,
        name: str,
        type: int = TEXT,
        *,
        permission_overwrites: Iterable[Mapping[str, Any]] = (),
        parent_id: int | None = None,
        topic: str | None = None,
        available_tags: Iterable[str] = (),
    ) -> int:
        """Add a channel (0 text, 5 announcement, 15 forum, 11 thread, …).

        ``permission_overwrites`` items: ``{"id": role_or_user_id, "type": 0 (role) | 1 (member),
        "allow": int, "deny": int}``.
        """
        channel_id = self._snowflake()
        guild = self.guilds[guild_id]
        data: dict[str, Any] = {
            "id": str(channel_id),
            "type": type,
            "guild_id": str(guild_id),
            "name": name,
            "position": len(guild["channel_ids"]),
            "permission_overwrites": [
                {
                    "id": str(o["id"]),
                    "type": o.get("type", 0),
                    "allow": str(o.get("allow", 0)),
                    "deny": str(o.get("deny", 0)),
                }
                for o in permission_overwrites
            ],
            "parent_id": str(parent_id) if parent_id else None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "flags": 0,
            "last_message_id": None,
        }
        if type in (TEXT, ANNOUNCEMENT, FORUM, MEDIA):
            data["topic"] = topic
        if type in (FORUM, MEDIA):
            data["available_tags"] = [
                {"id": str(self._snowflake()), "name": t, "moderated": False, "emoji_id": None, "emoji_name": None}
                for t in available_tags
            ]
            data["default_reaction_emoji"] = None
            data["default_thread_rate_limit_per_user"] = 0
            data["default_sort_order"] = None
            data["default_forum_layout"] = 0
        if type in THREAD_TYPES:
            data.update(self._thread_extra())
        self.channels[channel_id] = data
        guild["channel_ids"].append(channel_id)
        return channel_id

    def remove_channel(self, channel_id: int) -> dict[str, Any]:
        """Delete a channel (as a server admin would); returns its data for a CHANNEL_DELETE dispatch."""
        data = self.channels.pop(channel_id)
        self.guilds[int(data["guild_id"])]["channel_ids"].remove(channel_id)
        return data

    def _thread_extra(self) -> dict[str, Any]:
        return {
            "owner_id": str(self.application_id),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _now_iso(),
                "locked": False,
                "create_timestamp": _now_iso(),
            },
        }

    def set_overwrites(self, channel_id: int, overwrites: Iterable[Mapping[str, Any]]) -> None:
        """Replace a channel's overwrites (the bot is not told; use before it acts)."""
        self.channels[channel_id]["permission_overwrites"] = [
            {
                "id": str(o["id"]),
                "type": o.get("type", 0),
                "allow": str(o.get("allow", 0)),
                "deny": str(o.get("deny", 0)),
            }
            for o in overwrites
        ]

    def permissions(self, guild_id: int, user_id: int, channel_id: int | None = None) -> int:
        """Effective permissions of a member, in a channel if given (Discord's algorithm)."""
        guild = self.guilds[guild_id]
        if str(user_id) == guild["owner_id"]:
            return ALL_PERMISSIONS
        member = guild["members"][user_id]
        base = int(guild["roles"][guild_id]["permissions"])
        for role_id in member["roles"]:
            base |= int(guild["roles"][int(role_id)]["permissions"])
        if base & ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel_id is None:
            return base
        channel = self.channels[channel_id]
        if channel["type"] in THREAD_TYPES and channel.get("parent_id"):
            channel = self.channels[int(channel["parent_id"])]
        overwrites = {(int(o["id"]), o["type"]): o for o in channel.get("permission_overwrites", [])}
        perms = base
        everyone = overwrites.get((guild_id, 0))
        if everyone:
            perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
        allow = deny = 0
        for role_id in member["roles"]:
            o = overwrites.get((int(role_id), 0))
            if o:
                allow |= int(o["allow"])
                deny |= int(o["deny"])
        perms = (perms & ~deny) | allow
        o = overwrites.get((user_id, 1))
        if o:
            perms = (perms & ~int(o["deny"])) | int(o["allow"])
        return perms

    def _guild_create(self, guild_id: int) -> dict[str, Any]:
        guild = self.guilds[guild_id]
        data = {k: v for k, v in guild.items() if k not in ("roles", "members", "channel_ids")}
        members = list(guild["members"].values())
        channels = [self.channels[c] for c in guild["channel_ids"]]
        data.update(
            roles=list(guild["roles"].values()),
            members=members,
            member_count=len(members),
            channels=[c for c in channels if c["type"] not in THREAD_TYPES],
            threads=[c for c in channels if c["type"] in THREAD_TYPES],
            emojis=[],
            stickers=[],
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
            large=False,
            unavailable=False,
            max_members=500000,
            max_video_channel_users=25,
        )
        return data

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        count: int = 1,
        retry_after: float | None = None,
        *,
        is_global: bool = False,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``count`` requests matching ``method`` (or ``"*"``) and ``path_regex``
        (searched in the path relative to ``/api/v10``) with ``status`` (403, 404, 429, 500, 503, …).
        For 429, ``retry_after`` (default 0.05 s) goes in the JSON body and ``Retry-After``/``X-RateLimit-*``
        headers; ``is_global`` adds ``X-RateLimit-Global``."""
        self._failures.append(
            _FailureRule(method.upper(), re.compile(path_regex), status, count, retry_after, is_global, body)
        )

    def _take_failure(self, method: str, path: str) -> _FailureRule | None:
        for rule in self._failures:
            if rule.remaining > 0 and rule.method in ("*", method) and rule.path_regex.search(path):
                rule.remaining -= 1
                return rule
        return None

    @staticmethod
    def _rate_limit_response(retry_after: float, is_global: bool, scope: str = "user") -> web.Response:
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "emulator-bucket",
            "X-RateLimit-Scope": "global" if is_global else scope,
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        if is_global:
            body["code"] = 0
        return _json_response(body, status=429, headers=headers)

    @staticmethod
    def _error(status: int, message: str, code: int = 0, extra: dict[str, Any] | None = None) -> web.Response:
        return _json_response(
            {"message": message, "code": code, **(extra or {})}, status=status, headers={"Via": "1.1 google"}
        )

    def _failure_response(self, rule: _FailureRule) -> web.Response:
        if rule.status == 429:
            return self._rate_limit_response(rule.retry_after if rule.retry_after is not None else 0.05, rule.is_global)
        defaults = {
            401: ("401: Unauthorized", 0),
            403: ("Missing Permissions", 50013),
            404: ("Unknown Channel", 10003),
            500: ("500: Internal Server Error", 0),
            502: ("502: Bad Gateway", 0),
            503: ("503: Service Unavailable", 0),
        }
        message, code = defaults.get(rule.status, (f"{rule.status}: Error", 0))
        body = rule.body or {"message": message, "code": code}
        return _json_response(body, status=rule.status, headers={"Via": "1.1 google"})

    def _global_limited(self) -> float | None:
        """Seconds to wait when the emulated global rate limit is exceeded, else None (and count the request)."""
        if not self.global_rate_limit:
            return None
        now = time.monotonic()
        while self._request_times and now - self._request_times[0] >= 1.0:
            self._request_times.popleft()
        if len(self._request_times) >= self.global_rate_limit:
            return max(0.001, 1.0 - (now - self._request_times[0]))
        self._request_times.append(now)
        return None

    # ------------------------------------------------------------------ HTTP plumbing

    def _route(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self._routes.append((method, regex, handler))

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, str, int]], str]:
        ctype = request.content_type
        files: list[tuple[str, str, int]] = []
        if not request.can_read_body:
            return None, files, ctype
        if ctype == "multipart/form-data":
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if part is None:
                    break
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":
                    body = json.loads(data)
                else:
                    files.append((part.name or "", part.filename or "", len(data)))  # type: ignore[union-attr]
            return body, files, ctype
        raw = await request.read()
        if not raw:
            return None, files, ctype
        if ctype == "application/json":
            return json.loads(raw), files, ctype
        raise _HTTPError(400, f"unsupported content type {ctype}", 50109, f"body sent as {ctype}")

    async def _http(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        if not path.startswith(API_PREFIX + "/"):
            self.violation("unknown route", "not under /api/v10", method, path)
            return self._error(404, "404: Not Found")
        rel = path[len(API_PREFIX) :]
        record = RecordedRequest(method, rel, dict(request.query), None)
        self.requests.append(record)
        try:
            response = await self._serve(request, method, rel, record)
        except _HTTPError as exc:
            if exc.violation:
                self.violation(exc.message, exc.violation, method, rel)
            response = self._error(exc.status, exc.message, exc.code)
        record.status = response.status
        await self._changed()
        return response

    async def _serve(self, request: web.Request, method: str, rel: str, record: RecordedRequest) -> web.Response:
        try:
            body, files, ctype = await self._read_body(request)
        except json.JSONDecodeError as exc:
            raise _HTTPError(400, "400: Bad Request", 50109, f"invalid JSON body: {exc}") from None
        record.body = body

        is_interaction = rel.startswith(("/interactions/", "/webhooks/"))
        auth = request.headers.get("Authorization")
        if (auth is not None or not is_interaction) and auth != f"Bot {self.token}":
            raise _HTTPError(401, "401: Unauthorized", 0, f"bad Authorization header {auth!r}")

        handler, params = None, {}
        for route_method, regex, candidate in self._routes:
            m = regex.match(rel)
            if m and route_method == method:
                handler, params = candidate, m.groupdict()
                break
        if handler is None:
            self.violation("unknown route", "the emulator (and maybe Discord) has no such endpoint", method, rel)
            return self._error(404, "404: Not Found", 0)

        problems: list[str] = []
        if body is not None:
            if self.validator is not None:
                problems = self.validator.validate(method, rel, body, ctype)
            else:
                problems = check_request_limits(method, rel, body)
        for p in problems:
            self.violation("invalid body", p, method, rel)

        if not is_interaction:
            wait = self._global_limited()
            if wait is not None:
                self.rate_limited_count += 1
                return self._rate_limit_response(wait, True)
        rule = self._take_failure(method, rel)
        if rule is not None:
            if rule.status == 429:
                self.rate_limited_count += 1
            return self._failure_response(rule)
        if problems:
            return self._error(400, "Invalid Form Body", 50035, {"errors": {"_errors": problems}})

        result = await handler(_Request(method, rel, params, request.query, body, files, request.headers))
        if isinstance(result, web.Response):
            return result
        if result is None:
            return web.Response(status=204, headers={"Via": "1.1 google"})
        return _json_response(result, headers={"Via": "1.1 google"})

    def _register_routes(self) -> None:
        r = self._route
        r("GET", "/users/@me", self._get_me)
        r("GET", "/users/{user_id}", self._get_user)
        r("GET", "/users/@me/guilds", self._get_my_guilds)
        r("GET", "/gateway", self._get_gateway)
        r("GET", "/gateway/bot", self._get_gateway)
        r("GET", "/oauth2/applications/@me", self._get_application)
        r("GET", "/applications/@me", self._get_application)
        for prefix in ("/applications/{app_id}", "/applications/{app_id}/guilds/{guild_id}"):
            r("GET", prefix + "/commands", self._get_commands)
            r("PUT", prefix + "/commands", self._put_commands)
            r("POST", prefix + "/commands", self._post_command)
            r("GET", prefix + "/commands/{command_id}", self._get_command)
            r("PATCH", prefix + "/commands/{command_id}", self._patch_command)
            r("DELETE", prefix + "/commands/{command_id}", self._delete_command)
        r("POST", "/interactions/{interaction_id}/{token}/callback", self._interaction_callback)
        r("POST", "/webhooks/{app_id}/{token}", self._post_followup)
        for verb, handler in (
            ("GET", self._get_webhook_message),
            ("PATCH", self._patch_webhook_message),
            ("DELETE", self._delete_webhook_message),
        ):
            r(verb, "/webhooks/{app_id}/{token}/messages/{message_id}", handler)
        r("GET", "/channels/{channel_id}", self._get_channel)
        r("GET", "/channels/{channel_id}/messages", self._get_channel_messages)
        r("POST", "/channels/{channel_id}/messages", self._post_channel_message)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self._get_channel_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self._patch_channel_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_channel_message)
        r("POST", "/channels/{channel_id}/threads", self._post_thread)
        r("POST", "/channels/{channel_id}/typing", self._typing)
        r("GET", "/guilds/{guild_id}", self._get_guild)
        r("GET", "/guilds/{guild_id}/channels", self._get_guild_channels)
        r("GET", "/guilds/{guild_id}/roles", self._get_guild_roles)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self._get_guild_member)

    # ------------------------------------------------------------------ REST handlers: identity

    async def _get_me(self, req: _Request) -> Any:
        return self.bot_user

    async def _get_user(self, req: _Request) -> Any:
        user = self.users.get(_int(req.params["user_id"]))
        if user is None:
            raise _HTTPError(404, "Unknown User", 10013)
        return user

    async def _get_my_guilds(self, req: _Request) -> Any:
        return [
            {
                "id": g["id"],
                "name": g["name"],
                "icon": None,
                "owner": False,
                "permissions": str(self.permissions(gid, self.application_id)),
                "features": [],
            }
            for gid, g in self.guilds.items()
        ]

    async def _get_gateway(self, req: _Request) -> Any:
        data: dict[str, Any] = {"url": self.gateway_url}
        if req.path.endswith("/bot"):
            data.update(
                shards=1, session_start_limit={"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            )
        return data

    def _application_json(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["global_name"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": (1 << 19) | (1 << 23),
            "owner": self._user_json(1, "app-owner"),
            "team": None,
            "bot": self.bot_user,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "rpc_origins": [],
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    async def _get_application(self, req: _Request) -> Any:
        return self._application_json()

    # ------------------------------------------------------------------ REST handlers: commands

    def _check_app(self, req: _Request) -> int | None:
        if _int(req.params["app_id"]) != self.application_id:
            raise _HTTPError(403, "Missing Access", 50001, f"wrong application id {req.params['app_id']}")
        gid = req.params.get("guild_id")
        if gid is None:
            return None
        guild_id = _int(gid)
        if guild_id not in self.guilds:
            raise _HTTPError(403, "Missing Access", 50001, f"guild {gid} unknown to the emulator")
        return guild_id

    def _command_store(self, guild_id: int | None) -> dict[int, dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.setdefault(guild_id, {})

    def _commands_visible(self, guild_id: int | None) -> list[dict[str, Any]]:
        found = list(self.global_commands.values())
        if guild_id is not None:
            found += list(self.guild_commands.get(guild_id, {}).values())
        return found

    def _command_json(self, guild_id: int | None, body: Mapping[str, Any]) -> dict[str, Any]:
        ctype = body.get("type", 1)
        key = (guild_id, ctype, body["name"])
        cid = self._command_ids.setdefault(key, self._snowflake())
        data: dict[str, Any] = {
            "id": str(cid),
            "application_id": str(self.application_id),
            "version": str(self._snowflake()),
            "type": ctype,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description", ""),
            "description_localizations": body.get("description_localizations"),
            "options": body.get("options") or [],
            "default_member_permissions": body.get("default_member_permissions"),
            "nsfw": body.get("nsfw", False),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data

    async def _get_commands(self, req: _Request) -> Any:
        return list(self._command_store(self._check_app(req)).values())

    async def _put_commands(self, req: _Request) -> Any:
        guild_id = self._check_app(req)
        if not isinstance(req.body, list):
            raise _HTTPError(400, "Invalid Form Body", 50035, "bulk overwrite body is not a list")
        store = self._command_store(guild_id)
        store.clear()
        for body in req.body:
            data = self._command_json(guild_id, body)
            store[int(data["id"])] = data
        self.command_syncs += 1
        return list(store.values())

    async def _post_command(self, req: _Request) -> Any:
        guild_id = self._check_app(req)
        data = self._command_json(guild_id, req.body)
        self._command_store(guild_id)[int(data["id"])] = data
        return data

    def _find_command_by_id(self, req: _Request) -> dict[str, Any]:
        store = self._command_store(self._check_app(req))
        command = store.get(_int(req.params["command_id"]))
        if command is None:
            raise _HTTPError(404, "Unknown application command", 10063)
        return command

    async def _get_command(self, req: _Request) -> Any:
        return self._find_command_by_id(req)

    async def _patch_command(self, req: _Request) -> Any:
        command = self._find_command_by_id(req)
        command.update({k: v for k, v in req.body.items() if k in command})
        return command

    async def _delete_command(self, req: _Request) -> Any:
        command = self._find_command_by_id(req)
        self._command_store(self._check_app(req)).pop(int(command["id"]))
        return None

    # ------------------------------------------------------------------ messages

    def _message_json(
        self,
        channel_id: int,
        body: Mapping[str, Any],
        files: list[tuple[str, str, int]],
        *,
        message_type: int = 0,
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
    ) -> dict[str, Any]:
        message_id = self._snowflake()
        channel = self.channels.get(channel_id)
        msg: dict[str, Any] = {
            "id": str(message_id),
            "type": message_type,
            "channel_id": str(channel_id),
            "author": self.bot_user,
            "content": "",
            "embeds": [],
            "components": [],
            "attachments": [],
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "flags": 0,
        }
        if channel is not None:
            msg["guild_id"] = channel["guild_id"]
        if interaction is not None:
            msg["webhook_id"] = str(self.application_id)
            msg["application_id"] = str(self.application_id)
            user = interaction.payload.get("member", {}).get("user") or interaction.payload.get("user")
            msg["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": user,
                "authorizing_integration_owners": interaction.payload.get("authorizing_integration_owners", {}),
            }
        if body.get("nonce") is not None:
            msg["nonce"] = body["nonce"]
        self._apply_edit(msg, body, files, initial=True)
        if flags is not None:
            msg["flags"] = flags
        self.messages_by_id[message_id] = msg
        if channel is not None:
            channel["last_message_id"] = msg["id"]
        return msg

    def _apply_edit(
        self, msg: dict[str, Any], body: Mapping[str, Any], files: list[tuple[str, str, int]], *, initial: bool = False
    ) -> None:
        if "content" in body:
            msg["content"] = body["content"] or ""
        if "embeds" in body:
            msg["embeds"] = [
                {"type": "rich", **{k: v for k, v in e.items() if v is not None}} for e in body["embeds"] or []
            ]
        if "components" in body:
            msg["components"] = body["components"] or []
        if "flags" in body and body["flags"] is not None:
            msg["flags"] = int(body["flags"])
        if "attachments" in body or files:
            sizes = {name: size for field_name, name, size in files if field_name}
            attachments = []
            for a in body.get("attachments") or []:
                filename = a.get("filename", "file")
                attachments.append(
                    {
                        "id": str(a["id"]) if len(str(a.get("id", ""))) > 5 else str(self._snowflake()),
                        "filename": filename,
                        "size": sizes.get(filename, 0),
                        "url": f"{self.base_url}/attachments/{filename}",
                        "proxy_url": f"{self.base_url}/attachments/{filename}",
                        "content_type": "application/octet-stream",
                    }
                )
            msg["attachments"] = attachments
        if not initial:
            msg["edited_timestamp"] = _now_iso()

    def _channel_or_404(self, channel_id: str) -> dict[str, Any]:
        channel = self.channels.get(_int(channel_id))
        if channel is None:
            raise _HTTPError(404, "Unknown Channel", 10003)
        return channel

    def _require(self, channel: dict[str, Any], needed: int) -> None:
        guild_id = int(channel["guild_id"])
        perms = self.permissions(guild_id, self.application_id, int(channel["id"]))
        if not perms & VIEW_CHANNEL:
            raise _HTTPError(403, "Missing Access", 50001)
        if perms & needed != needed:
            raise _HTTPError(403, "Missing Permissions", 50013)

    async def _get_channel(self, req: _Request) -> Any:
        channel = self._channel_or_404(req.params["channel_id"])
        self._require(channel, 0)
        return channel

    async def _get_channel_messages(self, req: _Request) -> Any:
        channel = self._channel_or_404(req.params["channel_id"])
        self._require(channel, READ_MESSAGE_HISTORY)
        limit = int(req.query.get("limit", "50"))
        return list(reversed(self.sent_messages.get(int(channel["id"]), [])))[:limit]

    async def _post_channel_message(self, req: _Request) -> Any:
        channel = self._channel_or_404(req.params["channel_id"])
        channel_id = int(channel["id"])
        if channel["type"] in (FORUM, MEDIA, CATEGORY):
            raise _HTTPError(
                400,
                "Cannot send messages in this type of channel",
                50008,
                f"POST message to a channel of type {channel['type']}",
            )
        self._require(channel, SEND_MESSAGES_IN_THREADS if channel["type"] in THREAD_TYPES else SEND_MESSAGES)
        body = req.body or {}
        if not any(body.get(k) for k in ("content", "embeds", "components", "sticker_ids", "poll")) and not req.files:
            raise _HTTPError(400, "Cannot send an empty message", 50006, "empty message")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((channel_id, str(nonce)))
            if seen is not None and time.monotonic() - seen[0] < NONCE_WINDOW_S:
                self.nonce_duplicates += 1
                return seen[1]
        msg = self._message_json(channel_id, body, req.files)
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[(channel_id, str(nonce))] = (time.monotonic(), msg)
        self.sent_messages.setdefault(channel_id, []).append(msg)
        await self._echo("MESSAGE_CREATE", msg, GUILD_MESSAGES_INTENT)
        return msg

    def _channel_message(self, req: _Request) -> dict[str, Any]:
        channel = self._channel_or_404(req.params["channel_id"])
        msg = self.messages_by_id.get(_int(req.params["message_id"]))
        if msg is None or msg["channel_id"] != channel["id"]:
            raise _HTTPError(404, "Unknown Message", 10008)
        return msg

    async def _get_channel_message(self, req: _Request) -> Any:
        return self._channel_message(req)

    async def _patch_channel_message(self, req: _Request) -> Any:
        msg = self._channel_message(req)
        self._apply_edit(msg, req.body or {}, req.files)
        return msg

    async def _delete_channel_message(self, req: _Request) -> Any:
        msg = self._channel_message(req)
        del self.messages_by_id[int(msg["id"])]
        with contextlib.suppress(ValueError):
            self.sent_messages.get(int(msg["channel_id"]), []).remove(msg)
        return None

    async def _post_thread(self, req: _Request) -> Any:
        parent = self._channel_or_404(req.params["channel_id"])
        body = req.body or {}
        is_forum = parent["type"] in (FORUM, MEDIA)
        self._require(parent, SEND_MESSAGES if is_forum else CREATE_PUBLIC_THREADS)
        if is_forum and not isinstance(body.get("message"), dict):
            raise _HTTPError(400, "Invalid Form Body", 50035, "forum thread without a starter message")
        thread_type = PUBLIC_THREAD if is_forum else int(body.get("type") or PRIVATE_THREAD)
        thread_id = self.add_channel(int(parent["guild_id"]), body["name"], thread_type, parent_id=int(parent["id"]))
        thread = self.channels[thread_id]
        thread["applied_tags"] = [str(t) for t in body.get("applied_tags") or []]
        if body.get("auto_archive_duration"):
            thread["thread_metadata"]["auto_archive_duration"] = body["auto_archive_duration"]
        if is_forum:
            starter = self._message_json(thread_id, body["message"], req.files)
            # A forum post's starter message has the thread's id.
            del self.messages_by_id[int(starter["id"])]
            starter["id"] = str(thread_id)
            self.messages_by_id[thread_id] = starter
            thread["last_message_id"] = starter["id"]
            thread["message_count"] = 1
            self.sent_messages.setdefault(thread_id, []).append(starter)
            await self._echo("THREAD_CREATE", {**thread, "newly_created": True}, GUILDS_INTENT)
            await self._echo("MESSAGE_CREATE", starter, GUILD_MESSAGES_INTENT)
            return {**thread, "message": starter}
        await self._echo("THREAD_CREATE", {**thread, "newly_created": True}, GUILDS_INTENT)
        return thread

    async def _echo(self, event: str, data: dict[str, Any], intent: int) -> None:
        """Dispatch the gateway event Discord sends for the bot's own action, if its intents ask for it."""
        if self._session is not None and self.intents is not None and self.intents & intent:
            await self.dispatch(event, data)

    async def _typing(self, req: _Request) -> Any:
        self._channel_or_404(req.params["channel_id"])
        return None

    # ------------------------------------------------------------------ guild reads

    def _guild_or_404(self, guild_id: str) -> dict[str, Any]:
        guild = self.guilds.get(_int(guild_id))
        if guild is None:
            raise _HTTPError(404, "Unknown Guild", 10004)
        return guild

    async def _get_guild(self, req: _Request) -> Any:
        guild = self._guild_or_404(req.params["guild_id"])
        return {k: v for k, v in guild.items() if k not in ("members", "channel_ids")} | {
            "roles": list(guild["roles"].values()),
            "emojis": [],
            "stickers": [],
        }

    async def _get_guild_channels(self, req: _Request) -> Any:
        guild = self._guild_or_404(req.params["guild_id"])
        return [self.channels[c] for c in guild["channel_ids"] if self.channels[c]["type"] not in THREAD_TYPES]

    async def _get_guild_roles(self, req: _Request) -> Any:
        return list(self._guild_or_404(req.params["guild_id"])["roles"].values())

    async def _get_guild_member(self, req: _Request) -> Any:
        guild = self._guild_or_404(req.params["guild_id"])
        uid = req.params["user_id"]
        member = guild["members"].get(self.application_id if uid == "@me" else _int(uid))
        if member is None:
            raise _HTTPError(404, "Unknown Member", 10007)
        return member

    # ------------------------------------------------------------------ interactions: REST side

    def _interaction_for_webhook(self, req: _Request) -> InteractionRecord:
        if _int(req.params["app_id"]) != self.application_id:
            raise _HTTPError(404, "Unknown Webhook", 10015, f"webhook id {req.params['app_id']} is not the app id")
        record = self._interactions_by_token.get(req.params["token"])
        if record is None:
            raise _HTTPError(404, "Unknown Webhook", 10015, "unknown interaction token")
        if record.callback is None:
            raise _HTTPError(
                404, "Unknown Webhook", 10015, f"webhook used before the interaction {record.id} was acknowledged"
            )
        return record

    async def _interaction_callback(self, req: _Request) -> Any:
        record = self.interactions.get(_int(req.params["interaction_id"]))
        if record is None or record.token != req.params["token"]:
            raise _HTTPError(404, "Unknown interaction", 10062, "callback for an unknown interaction id/token")
        loop = asyncio.get_running_loop()
        elapsed = loop.time() - record.dispatched_at
        if record.callback is not None:
            raise _HTTPError(
                400,
                "Interaction has already been acknowledged.",
                40060,
                f"second initial response to interaction {record.id}",
            )
        if elapsed > self.interaction_deadline:
            raise _HTTPError(
                404,
                "Unknown interaction",
                10062,
                f"initial response {elapsed:.2f}s after dispatch (limit {self.interaction_deadline}s)",
            )
        body = req.body or {}
        cb_type = body.get("type")
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(record.type, set())
        if cb_type not in allowed:
            raise _HTTPError(
                400,
                "Invalid Form Body",
                50035,
                f"callback type {cb_type} is not valid for interaction type {record.type}",
            )
        record.callback = body
        channel_id = record.channel_id or 0
        resource: dict[str, Any] = {"type": cb_type}
        if cb_type == 4:
            flags = int(data.get("flags") or 0)
            record.original = self._message_json(
                channel_id,
                data,
                req.files,
                message_type=20 if record.type == 2 else 19,
                interaction=record,
                flags=flags,
            )
            resource["message"] = record.original
        elif cb_type == 5:
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | LOADING
            record.original = self._message_json(
                channel_id, {}, [], message_type=20 if record.type == 2 else 19, interaction=record, flags=flags
            )
            resource["message"] = record.original
        elif cb_type in (6, 7):
            source = record.payload.get("message")
            record.original = self.messages_by_id.get(int(source["id"])) if source else None
            if record.original is None and source is not None:
                record.original = source
            if cb_type == 7 and record.original is not None:
                self._apply_edit(record.original, data, req.files)
                resource["message"] = record.original
        response_message = record.original if cb_type in (4, 5, 6, 7) else None
        interaction = {
            "id": str(record.id),
            "type": record.type,
            "response_message_loading": cb_type == 5,
            "response_message_ephemeral": bool(response_message and response_message.get("flags", 0) & EPHEMERAL),
        }
        if response_message is not None:
            interaction["response_message_id"] = response_message["id"]
        if req.query.get("with_response") in ("1", "true", "True"):
            return {"interaction": interaction, "resource": resource}
        return None

    async def _post_followup(self, req: _Request) -> Any:
        record = self._interaction_for_webhook(req)
        body = req.body or {}
        flags = int(body.get("flags") or 0) & EPHEMERAL
        msg = self._message_json(
            record.channel_id or 0, body, req.files, message_type=0, interaction=record, flags=flags
        )
        record.followups.append(msg)
        if req.query.get("wait") in ("1", "true", "True"):
            return msg
        return None

    def _webhook_message(self, req: _Request) -> tuple[InteractionRecord, dict[str, Any]]:
        record = self._interaction_for_webhook(req)
        mid = req.params["message_id"]
        if mid == "@original":
            if record.original is None or record.deleted_original:
                raise _HTTPError(404, "Unknown Message", 10008, "no original response message to act on")
            return record, record.original
        for msg in [*record.followups, *([record.original] if record.original else [])]:
            if msg["id"] == mid:
                return record, msg
        raise _HTTPError(404, "Unknown Message", 10008, f"message {mid} is not part of interaction {record.id}")

    async def _get_webhook_message(self, req: _Request) -> Any:
        return self._webhook_message(req)[1]

    async def _patch_webhook_message(self, req: _Request) -> Any:
        record, msg = self._webhook_message(req)
        self._apply_edit(msg, req.body or {}, req.files)
        if msg is record.original:
            msg["flags"] = msg.get("flags", 0) & ~LOADING
            record.original_edits += 1
        return msg

    async def _delete_webhook_message(self, req: _Request) -> Any:
        record, msg = self._webhook_message(req)
        if msg is record.original:
            record.deleted_original = True
        else:
            record.followups.remove(msg)
        self.messages_by_id.pop(int(msg["id"]), None)
        return None

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        query = request.query
        compress = query.get("compress")
        self.gateway_paths.append(request.path)
        if query.get("v") != "10" or query.get("encoding", "json") != "json":
            self.violation("gateway", f"unsupported query {dict(query)} (need v=10, encoding=json)")
            await ws.close(code=4012, message=b"Invalid API version")
            return ws
        if compress not in (None, "zlib-stream", "zstd-stream"):
            self.violation("gateway", f"unknown compress={compress}")
            await ws.close(code=4000, message=b"Unknown compression")
            return ws
        try:
            conn = _Connection(ws, compress, request.path)
        except ImportError:
            self.violation("gateway", "zstd-stream requested but no zstandard module in the emulator")
            await ws.close(code=4000)
            return ws
        self._connections.add(conn)
        try:
            async with self._send_lock:
                await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    self.violation("gateway", f"unexpected websocket frame {msg.type!r}")
                    continue
                try:
                    payload = json.loads(msg.data)
                except json.JSONDecodeError:
                    self.violation("gateway", "non-JSON text frame")
                    await ws.close(code=4002, message=b"Decode error")
                    break
                await self._on_gateway_message(conn, payload)
        finally:
            self._connections.discard(conn)
            if self._current is conn:
                self._current = None
            await self._changed()
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
            self.violation("gateway", f"unknown opcode {op}")
            await conn.ws.close(code=4001, message=b"Unknown opcode")

    async def _identify(self, conn: _Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            self.violation("gateway", "IDENTIFY with a wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        if "intents" not in d:
            self.violation("gateway", "IDENTIFY without intents")
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
            "user": self.bot_user,
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_json()["flags"]},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["emulator"],
        }
        await self.dispatch("READY", ready)
        for guild_id in self.guilds:
            await self.dispatch("GUILD_CREATE", self._guild_create(guild_id))
        self.ready_count += 1
        await self._changed()

    async def _resume(self, conn: _Connection, d: dict[str, Any]) -> None:
        session = self._session
        if d.get("token") != self.token:
            self.violation("gateway", "RESUME with a wrong token")
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
        await self._changed()

    async def _request_members(self, conn: _Connection, d: dict[str, Any]) -> None:
        guild = self.guilds.get(_int(d.get("guild_id", 0)))
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

    # ------------------------------------------------------------------ interaction injection

    def _default_guild(self, guild_id: int | None) -> int:
        if guild_id is not None:
            return guild_id
        if len(self.guilds) != 1:
            raise ValueError(f"pass guild_id: the emulator has {len(self.guilds)} guilds")
        return next(iter(self.guilds))

    def _default_channel(self, guild_id: int, channel_id: int | None) -> int:
        if channel_id is not None:
            return channel_id
        for cid in self.guilds[guild_id]["channel_ids"]:
            if self.channels[cid]["type"] == TEXT:
                return cid
        raise ValueError("pass channel_id: the guild has no text channel")

    def _default_user(self, guild_id: int, user: int | None) -> int:
        if user is not None:
            return user
        owner = int(self.guilds[guild_id]["owner_id"])
        for uid in self.guilds[guild_id]["members"]:
            if uid not in (owner, self.application_id):
                return uid
        return owner

    def _interaction_base(
        self, itype: int, guild_id: int | None, channel_id: int | None, user: int | None, locale: str
    ) -> dict[str, Any]:
        gid = self._default_guild(guild_id)
        cid = self._default_channel(gid, channel_id)
        uid = self._default_user(gid, user)
        guild = self.guilds[gid]
        member = dict(guild["members"][uid])
        member["permissions"] = str(self.permissions(gid, uid, cid))
        channel = dict(self.channels[cid])
        channel["permissions"] = member["permissions"]
        interaction_id = self._snowflake()
        return {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": itype,
            "guild_id": str(gid),
            "guild": {"id": str(gid), "locale": guild["preferred_locale"], "features": guild["features"]},
            "channel_id": str(cid),
            "channel": channel,
            "member": member,
            "token": f"emulator-interaction-token-{interaction_id}-{secrets.token_urlsafe(16)}",
            "version": 1,
            "app_permissions": str(self.permissions(gid, self.application_id, cid)),
            "locale": locale,
            "guild_locale": guild["preferred_locale"],
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(gid)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    async def _inject(self, payload: dict[str, Any]) -> InteractionHandle:
        record = InteractionRecord(
            id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            payload=payload,
            channel_id=_int(payload["channel_id"]) if payload.get("channel_id") else None,
        )
        self.interactions[record.id] = record
        self._interactions_by_token[record.token] = record
        record.dispatched_at = asyncio.get_running_loop().time()
        await self.dispatch("INTERACTION_CREATE", payload)
        return InteractionHandle(self, record)

    def find_command(self, name: str, guild_id: int | None = None, type: int = 1) -> dict[str, Any] | None:
        """The command the bot registered under ``name`` (guild commands first)."""
        candidates = list(self.guild_commands.get(guild_id, {}).values()) if guild_id else []
        candidates += list(self.global_commands.values())
        for command in candidates:
            if command["name"] == name and command.get("type", 1) == type:
                return command
        return None

    def _build_options(
        self,
        defs: list[dict[str, Any]],
        values: Mapping[str, Any],
        guild_id: int,
        resolved: dict[str, Any],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        by_name = {d["name"]: d for d in defs}
        out = []
        for name, value in values.items():
            definition = by_name.get(name)
            if definition is None:
                raise ValueError(f"option {name!r} is not in the registered command (have {sorted(by_name)})")
            otype = definition["type"]
            opt: dict[str, Any] = {"name": name, "type": otype}
            if otype in (1, 2):  # subcommand (group): value is a mapping of its own options
                opt["options"] = self._build_options(
                    definition.get("options") or [], value or {}, guild_id, resolved, focused
                )
            else:
                opt["value"] = str(value) if otype in (6, 7, 8, 9) else value
                if name == focused:
                    opt["focused"] = True
                    opt["value"] = str(value)
                self._resolve(otype, value, guild_id, resolved)
            out.append(opt)
        return out

    def _resolve(self, otype: int, value: Any, guild_id: int, resolved: dict[str, Any]) -> None:
        try:
            ident = int(value)
        except (TypeError, ValueError):
            return
        guild = self.guilds[guild_id]
        if otype in (6, 9) and ident in self.users:
            resolved.setdefault("users", {})[str(ident)] = self.users[ident]
            member = guild["members"].get(ident)
            if member is not None:
                m = {k: v for k, v in member.items() if k != "user"}
                m["permissions"] = str(self.permissions(guild_id, ident))
                resolved.setdefault("members", {})[str(ident)] = m
        if otype in (8, 9) and ident in guild["roles"]:
            resolved.setdefault("roles", {})[str(ident)] = guild["roles"][ident]
        if otype == 7 and ident in self.channels:
            ch = self.channels[ident]
            resolved.setdefault("channels", {})[str(ident)] = {
                k: ch[k] for k in ("id", "name", "type", "parent_id", "thread_metadata") if k in ch
            } | {"permissions": str(self.permissions(guild_id, self.application_id, ident))}

    async def _command_payload(
        self,
        itype: int,
        name: str,
        options: Mapping[str, Any] | None,
        focused: str | None,
        *,
        user: int | None,
        guild_id: int | None,
        channel_id: int | None,
        locale: str,
        timeout_s: float,
    ) -> dict[str, Any]:
        payload = self._interaction_base(itype, guild_id, channel_id, user, locale)
        gid = int(payload["guild_id"])
        await self.wait_for(
            lambda: self.find_command(name, gid) is not None, timeout_s, f"the bot to register command {name!r}"
        )
        command = self.find_command(name, gid)
        assert command is not None
        resolved: dict[str, Any] = {}
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": self._build_options(command.get("options") or [], options or {}, gid, resolved, focused),
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        payload["data"] = data
        return payload

    async def slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        locale: str = "ja",
        timeout_s: float = 5.0,
    ) -> InteractionHandle:
        """Dispatch an APPLICATION_COMMAND interaction for the synced command ``name``.

        ``options`` maps option names to values; a subcommand is ``{"sub": {"opt": value}}``. User, channel
        and role options take ids and get a ``resolved`` section. Waits (``timeout_s``) for the command to be synced.
        """
        payload = await self._command_payload(
            2,
            name,
            options,
            None,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            locale=locale,
            timeout_s=timeout_s,
        )
        return await self._inject(payload)

    async def autocomplete(
        self,
        name: str,
        focused_option: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        locale: str = "ja",
        timeout_s: float = 5.0,
    ) -> InteractionHandle:
        """Dispatch an APPLICATION_COMMAND_AUTOCOMPLETE; ``options`` must include the focused option's text."""
        values = dict(options or {})
        values.setdefault(focused_option, "")
        payload = await self._command_payload(
            4,
            name,
            values,
            focused_option,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            locale=locale,
            timeout_s=timeout_s,
        )
        return await self._inject(payload)

    async def click_button(
        self,
        message: Mapping[str, Any] | int | str,
        custom_id: str,
        *,
        user: int | None = None,
        locale: str = "ja",
    ) -> InteractionHandle:
        """Dispatch a MESSAGE_COMPONENT (button) interaction on a message the bot sent."""
        mid = int(message["id"]) if isinstance(message, Mapping) else int(message)
        msg = self.messages_by_id.get(mid)
        if msg is None:
            raise ValueError(f"message {mid} is unknown to the emulator")
        found = [
            c for row in msg.get("components", []) for c in row.get("components", []) if c.get("custom_id") == custom_id
        ]
        if not found:
            raise ValueError(f"message {mid} has no component with custom_id {custom_id!r}")
        if found[0].get("type") != 2:
            raise ValueError(f"component {custom_id!r} is not a button")
        if found[0].get("disabled"):
            raise ValueError(f"button {custom_id!r} is disabled: a user cannot click it")
        channel_id = int(msg["channel_id"])
        guild_id = int(self.channels[channel_id]["guild_id"])
        payload = self._interaction_base(3, guild_id, channel_id, user, locale)
        payload["message"] = msg
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        return await self._inject(payload)


def _json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """JSON with Discord's exact ``Content-Type: application/json`` (discord.py compares it verbatim)."""
    all_headers = {"Content-Type": "application/json", "Via": "1.1 google", **(headers or {})}
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _HTTPError(404, "404: Not Found", 0) from None
