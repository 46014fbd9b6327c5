"""What every part of the emulator shares: Discord's constants, the records of what the bot did, the monitor.

The monitor is one `asyncio.Condition` plus the list of violations: every part announces a state change on it,
so a test (or the demo page) waits for "the bot answered" instead of polling.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

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
MANAGE_WEBHOOKS = 1 << 29
USE_EXTERNAL_APPS = 1 << 50  # without it, a user-installed app's replies in a server are ephemeral
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

# What a user-installed app may do where its bot is not a member (Discord's `app_permissions` there):
# send messages with embeds and files, use external emojis and voice messages; in a server also see
# the channel, send TTS and post in threads.
USER_APP_PERMISSIONS = SEND_MESSAGES | ATTACH_FILES | EMBED_LINKS | (1 << 18) | (1 << 46)
USER_APP_GUILD_PERMISSIONS = USER_APP_PERMISSIONS | VIEW_CHANNEL | (1 << 12) | SEND_MESSAGES_IN_THREADS
# The bot in its own DM with a user: reading and writing, reactions and external emojis.
BOT_DM_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY | (1 << 6)
BOT_DM_PERMISSIONS |= 1 << 18

GUILDS_INTENT = 1 << 0
GUILD_MESSAGES_INTENT = 1 << 9

DM, GROUP_DM = 1, 3
# Where an interaction happens (its `context`) and who installed the app it runs (`authorizing_integration_owners`).
GUILD_CONTEXT, BOT_DM_CONTEXT, PRIVATE_CHANNEL_CONTEXT = 0, 1, 2
GUILD_INSTALL, USER_INSTALL = "0", "1"
TEXT, ANNOUNCEMENT, CATEGORY, PUBLIC_THREAD, PRIVATE_THREAD, FORUM, MEDIA = 0, 5, 4, 11, 12, 15, 16
ANNOUNCEMENT_THREAD = 10
THREAD_TYPES = {ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD}
# A forum or media channel's flag: every post in it must carry one of its tags.
REQUIRE_TAG = 1 << 4
MAX_APPLIED_TAGS = 5
EPHEMERAL = 1 << 6
# Flags a bot may set when it creates a message (SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS,
# IS_COMPONENTS_V2); EPHEMERAL only on an interaction's replies.
MESSAGE_CREATE_FLAGS = (1 << 2) | (1 << 12) | (1 << 15)
LOADING = 1 << 7


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Snowflakes:
    """Real-looking, strictly increasing snowflakes: discord.py reads creation times out of them."""

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
    arrived_at: float = 0.0  # loop time the request reached the emulator, before its body was read
    problems: list[str] = field(default_factory=list)  # why Discord would refuse it (validation), if it would


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
    callback_attempts: int = 0  # initial responses POSTed, refused ones too (two bots answering: 2)
    original: dict[str, Any] | None = None  # the original response message (or the clicked message)
    original_edits: int = 0
    followups: list[dict[str, Any]] = field(default_factory=list)
    deleted_original: bool = False


class Monitor:
    """The violations seen so far and the condition every state change is announced on."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        #: Counts state changes, so a watcher (the demo page) can ask "anything new since N?".
        self.version = 0
        self._cond: asyncio.Condition | None = None

    def bind(self) -> None:
        """Create the condition in the running loop (the emulator may be built outside one)."""
        self._cond = asyncio.Condition()

    def violation(self, kind: str, detail: str, method: str = "", path: str = "") -> None:
        self.violations.append(Violation(kind, detail, method, path))

    async def changed(self) -> None:
        self.version += 1
        if self._cond is None:
            return
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


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """JSON with Discord's exact ``Content-Type: application/json`` (discord.py compares it verbatim)."""
    all_headers = {"Content-Type": "application/json", "Via": "1.1 google", **(headers or {})}
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


class HTTPError(Exception):
    """Ends a REST request with Discord's error shape; ``violation`` says when it is the bot's fault."""

    def __init__(self, status: int, message: str, code: int = 0, violation: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.violation = status, message, code, violation


def snowflake_arg(value: Any) -> int:
    """An id from a path or payload; anything else is Discord's plain 404."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HTTPError(404, "404: Not Found", 0) from None
