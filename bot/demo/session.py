"""A demo session: the real Kiji bot against the in-package Discord emulator, and what a user does to it.

The emulator gets one server with #general and #announcements and two people: "you" (with Manage Server, so
/subscribe works) and Hana, a plain member. Kiji runs exactly as `kiji run` would, configured to talk to the
emulator instead of Discord, on a store of its own in a temporary folder (the demo never touches the real
one). At start the demo types `/subscribe channel:#announcements` for you, so a post added to the source while
the demo runs is announced there by the same announcer that serves a real server.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.demo.showcase import DemoClock, ShowcaseError, layout_previews, move_to_next_digest
from bot.discord.client import KijiBot
from bot.emulator import MANAGE_GUILD, DiscordEmulator, InteractionRecord, SpecUnavailable, Violation
from bot.emulator.records import BOT_DEFAULT, MANAGE_WEBHOOKS
from bot.emulator.validation import load_spec_validator
from bot.services.llm import client_from_settings
from bot.settings import Settings
from bot.sources.base import Source
from bot.store import store_for

log = logging.getLogger(__name__)

#: Discord's OpenAPI spec beside a checkout (``../shared/``); not shipped with Kiji.
DEFAULT_SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "discord-api" / "openapi.json"
START_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 10.0
LOCALES = ("ja", "en-US")
_INTERACTION_PATH = re.compile(r"^/interactions/(\d+)/")
_WEBHOOK_PATH = re.compile(r"^/webhooks/\d+/([^/]+)")
_CHANNEL_PATH = re.compile(r"^/channels/(\d+)")

# Option types as Discord numbers them.
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10


class DemoError(Exception):
    """The demo cannot do what was asked; the message says why, for the page or the terminal."""


@dataclass
class TypedCommand:
    """A slash command someone sent from the page, shown above Kiji's answer as Discord does."""

    interaction_id: int
    channel_id: int
    user_id: int
    name: str
    options: list[tuple[str, str]]


@dataclass
class DemoServer:
    guild: int
    general: int
    announcements: int
    you: int
    hana: int
    people: dict[int, str] = field(default_factory=dict)


class DemoSession:
    """Start with :meth:`start`, drive with :meth:`send_command` / :meth:`autocomplete` / :meth:`click`."""

    def __init__(
        self, settings: Settings, sources: list[Source] | None = None, *, spec_path: Path | None = DEFAULT_SPEC
    ) -> None:
        self.validation_note = "Every request Kiji sends is checked against Discord's OpenAPI spec and limits."
        validator_path: Path | None = None
        if spec_path is not None:
            try:
                load_spec_validator(spec_path)
                validator_path = spec_path
            except SpecUnavailable as exc:
                self.validation_note = f"Requests are checked against Discord's limits, not its OpenAPI spec: {exc}."
        else:
            self.validation_note = "Requests are checked against Discord's limits, not its OpenAPI spec (none given)."
        self.emulator = DiscordEmulator(spec_path=validator_path)
        self.settings = settings
        self.sources = sources
        self.bot: KijiBot | None = None
        self.server: DemoServer | None = None
        self.typed: list[TypedCommand] = []
        # What autocomplete offered, by (command, option, value): a picked post is shown by its title, not its id.
        self._offered: dict[tuple[str, str, str], str] = {}
        self._bot_task: asyncio.Task[None] | None = None
        self.clock = DemoClock()  # the page may move it on to a digest's hour

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        emu = self.emulator
        await emu.start()
        # Kiji may make webhooks here, so /subscribe delivery:webhook (posts "from the blog") can be tried.
        guild = emu.add_guild("Kiji demo", locale="ja", bot_permissions=BOT_DEFAULT | MANAGE_WEBHOOKS)
        general = emu.add_channel(guild, "general", topic="Try Kiji's slash commands here")
        announcements = emu.add_channel(guild, "announcements", topic="New posts are announced here")
        you = emu.add_member(guild, name="you", permissions=MANAGE_GUILD)
        hana = emu.add_member(guild, name="Hana")
        self.server = DemoServer(guild, general, announcements, you, hana, {you: "you", hana: "Hana"})
        self.settings = replace(
            self.settings, discord_token=emu.token, api_base=emu.api_base, gateway_url=None, dev_guild_id=None
        )
        self.bot = KijiBot(
            self.settings,
            store_for(self.settings.store_url),
            client_from_settings(self.settings),
            sources=self.sources,
            guild_ready_timeout=0.05,
            clock=self.clock,
        )
        self._bot_task = asyncio.create_task(self.bot.start(emu.token), name="kiji-demo-bot")
        ready = asyncio.ensure_future(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._bot_task}, timeout=START_TIMEOUT_S, return_when="FIRST_COMPLETED")
        if ready not in done:
            ready.cancel()
            if self._bot_task.done():
                self._bot_task.result()  # the bot's own error says best what went wrong
            raise DemoError(f"Kiji did not connect to the emulator within {START_TIMEOUT_S:g} s")
        await emu.wait_for_commands(self._bot_commands(), timeout_s=START_TIMEOUT_S)
        # The bot reads its blogs in the background; the demo waits for that first read, so the page
        # opens on the posts, and the channel it subscribes below hears only of posts added later.
        await asyncio.wait_for(self.bot.sync.synced_once(), timeout=START_TIMEOUT_S)
        # In the page's first language: the page opens in Japanese, as the demo server's locale is.
        answer = await self.send_command("subscribe", {"channel": str(announcements)}, locale=LOCALES[0])
        await answer.response(timeout_s=ANSWER_TIMEOUT_S)

    def _bot_commands(self) -> list[str]:
        """Every slash command of Kiji's tree: all of them are synced, all of them are offered in the page."""
        assert self.bot is not None
        return [command.name for command in self.bot.tree.get_commands()]

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self._bot_task is not None:
            try:
                await asyncio.wait_for(self._bot_task, timeout=10)
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("the demo's bot ended with an error")
        await self.emulator.stop()

    async def __aenter__(self) -> DemoSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ what the page asks for

    def _server(self) -> DemoServer:
        if self.server is None:
            raise DemoError("the demo has not started")
        return self.server

    def _user(self, user_id: int | None) -> int:
        server = self._server()
        if user_id is None:
            return server.you
        if user_id not in server.people:
            raise DemoError(f"nobody with id {user_id} is in the demo server")
        return user_id

    def _channel(self, channel_id: int | None) -> int:
        server = self._server()
        if channel_id is None:
            return server.general
        if channel_id not in (server.general, server.announcements):
            raise DemoError(f"no channel {channel_id} in the demo server")
        return channel_id

    def command(self, name: str) -> dict[str, Any]:
        command = self.emulator.find_command(name, self._server().guild)
        if command is None:
            raise DemoError(f"Kiji has no command /{name}")
        return command

    def _option_values(self, name: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """The typed option values, as the types Discord sends them; required options must be there."""
        definitions = {o["name"]: o for o in self.command(name).get("options") or []}
        values: dict[str, Any] = {}
        for option, raw in given.items():
            definition = definitions.get(option)
            if definition is None:
                raise DemoError(f"/{name} has no option {option!r} (it has {', '.join(definitions) or 'none'})")
            if raw is None or raw == "":
                continue
            values[option] = _typed_value(name, definition, raw)
        return values

    def _check_required(self, name: str, values: Mapping[str, Any]) -> None:
        for definition in self.command(name).get("options") or []:
            if definition.get("required") and definition["name"] not in values:
                raise DemoError(f"/{name} needs its option {definition['name']!r}")

    async def send_command(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        locale: str = "ja",
        user_id: int | None = None,
        channel_id: int | None = None,
    ) -> Any:
        """Send a slash command as a user would; returns the emulator's handle on the interaction."""
        values = self._option_values(name, options)
        self._check_required(name, values)
        user, channel = self._user(user_id), self._channel(channel_id)
        handle = await self.emulator.slash_command(
            name, values, user=user, channel_id=channel, locale=_locale(locale), timeout_s=ANSWER_TIMEOUT_S
        )
        shown = [(option, self._display_value(option, value, name, locale)) for option, value in values.items()]
        self.typed.append(TypedCommand(handle.id, channel, user, name, shown))
        await self.emulator.monitor.changed()
        return handle

    async def autocomplete(
        self,
        name: str,
        focused: str,
        options: Mapping[str, Any],
        *,
        locale: str = "ja",
        user_id: int | None = None,
        channel_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """The choices Kiji offers for the option being typed (as Discord shows them under the box)."""
        values = self._option_values(name, {k: v for k, v in options.items() if k != focused})
        values[focused] = str(options.get(focused) or "")
        handle = await self.emulator.autocomplete(
            name,
            focused,
            values,
            user=self._user(user_id),
            channel_id=self._channel(channel_id),
            locale=_locale(locale),
            timeout_s=ANSWER_TIMEOUT_S,
        )
        try:
            choices = await handle.choices(timeout_s=ANSWER_TIMEOUT_S)
        except TimeoutError:
            raise DemoError("Kiji did not answer the autocomplete in time") from None
        for choice in choices:
            self._offered[(name, focused, str(choice["value"]))] = _choice_name(choice, locale)
        return choices

    async def click(self, message_id: int, custom_id: str, *, locale: str = "ja", user_id: int | None = None) -> Any:
        """Click a button of one of Kiji's messages."""
        try:
            return await self.emulator.click_button(
                message_id, custom_id, user=self._user(user_id), locale=_locale(locale)
            )
        except ValueError as exc:
            raise DemoError(str(exc)) from None

    async def preview(self, post_id: Any, template: str | None, *, locale: str = "ja") -> dict[str, Any]:
        """A post in every layout with `template`, by the announcer's own renderer (see bot.demo.showcase)."""
        if self.bot is None:
            raise DemoError("the demo has not started")
        try:
            return await layout_previews(self.bot, post_id, template, _locale(locale))
        except ShowcaseError as exc:
            raise DemoError(str(exc)) from None

    async def next_digest(self) -> dict[str, Any]:
        """Move the demo's clock to the next digest hour; the digest arrives in its channel as at that hour."""
        if self.bot is None:
            raise DemoError("the demo has not started")
        try:
            return await move_to_next_digest(self.bot, self.clock, self._server().guild)
        except ShowcaseError as exc:
            raise DemoError(str(exc)) from None

    def _display_value(self, option: str, value: Any, command: str, locale: str) -> str:
        """The value as Discord shows it above the answer: a choice by its name, a channel as #name…"""
        definition = {o["name"]: o for o in self.command(command).get("options") or []}[option]
        for choice in definition.get("choices") or []:
            if choice["value"] == value:
                return _choice_name(choice, locale)
        if definition.get("autocomplete") and (offered := self._offered.get((command, option, str(value)))):
            return offered
        world = self.emulator.world
        if definition["type"] == CHANNEL and int(value) in world.channels:
            return "#" + world.channels[int(value)]["name"]
        if definition["type"] == ROLE:
            role = world.guilds[self._server().guild]["roles"].get(int(value))
            return "@" + role["name"] if role else str(value)
        if definition["type"] == USER and int(value) in world.users:
            return "@" + world.users[int(value)]["global_name"]
        return str(value)

    # ------------------------------------------------------------------ the page's picture of the server

    def setup(self) -> dict[str, Any]:
        """What the page needs once: the commands to autocomplete, channels, roles and people to pick."""
        server = self._server()
        world = self.emulator.world
        guild = world.guilds[server.guild]
        return {
            "guild": {"id": str(server.guild), "name": guild["name"]},
            "bot": {"id": str(world.application_id), "name": world.bot_user["global_name"]},
            "channels": [
                {"id": str(c), "name": world.channels[c]["name"], "topic": world.channels[c].get("topic")}
                for c in (server.general, server.announcements)
            ],
            "roles": [
                {"id": r["id"], "name": r["name"]}
                for rid, r in guild["roles"].items()
                if rid != server.guild and not r["managed"]
            ],
            "people": [{"id": str(uid), "name": name} for uid, name in server.people.items()],
            "you": str(server.you),
            "commands": sorted(
                (c for c in world.commands_visible(server.guild) if c.get("type", 1) == 1), key=lambda c: c["name"]
            ),
            "locales": list(LOCALES),
            "validation": self.validation_note,
            # Any bot may talk to the emulation too: DISCORD_API_BASE=this, with the emulator's token.
            "api_base": self.emulator.api_base,
            "sources": [source.display for source in self.bot.sources] if self.bot else [],
        }

    def view(self) -> dict[str, Any]:
        """Every channel's messages in order, with the commands that caused them and any refusals."""
        server = self._server()
        world = self.emulator.world
        refusals = _refusals_by_place(self.emulator.monitor.violations, world.interactions_by_token)
        channels: dict[int, dict[int, dict[str, Any]]] = {server.general: {}, server.announcements: {}}
        for typed in self.typed:
            channels[typed.channel_id][typed.interaction_id] = {
                "kind": "command",
                "id": str(typed.interaction_id),
                "user": self._server().people[typed.user_id],
                "command": typed.name,
                "options": typed.options,
                "refusals": refusals.pop(("interaction", typed.interaction_id), []),
            }
        for record in world.interactions.values():
            for message in _answers(record):
                place = channels.get(int(message["channel_id"]))
                if place is not None:
                    place[int(message["id"])] = self._message_item(message, record)
            click_refusals = refusals.pop(("interaction", record.id), [])
            if click_refusals and record.channel_id in channels:
                channels[record.channel_id][record.id] = {
                    "kind": "notice",
                    "id": str(record.id),
                    "refusals": click_refusals,
                }
        for channel_id, place in channels.items():
            for message in world.sent_messages.get(channel_id, []):
                place[int(message["id"])] = self._message_item(message, None)
            notices = refusals.pop(("channel", channel_id), [])
            if notices:
                place[max(place, default=0) + 1] = {"kind": "notice", "id": f"c{channel_id}", "refusals": notices}
        return {
            "version": self.emulator.monitor.version,
            "channels": {str(c): [place[k] for k in sorted(place)] for c, place in channels.items()},
            "refusals": [r for found in refusals.values() for r in found],
        }

    def _message_item(self, message: dict[str, Any], record: InteractionRecord | None) -> dict[str, Any]:
        ephemeral = bool(message.get("flags", 0) & (1 << 6))
        viewer = None
        if record is not None and ephemeral:
            user = (record.payload.get("member") or {}).get("user") or record.payload.get("user") or {}
            viewer = user.get("global_name")
        # A webhook delivery is shown as Discord shows it: under the name and picture it was sent with.
        executions = self.emulator.routes.webhooks.executions
        sent_as = executions.get(int(message["id"])) if message.get("webhook_id") else None
        return {
            "kind": "message",
            "id": message["id"],
            "message": message,
            "avatar_url": (sent_as or {}).get("avatar_url"),
            "ephemeral": ephemeral,
            "only_for": viewer,
            "loading": bool(message.get("flags", 0) & (1 << 7)),
            "interaction": str(record.id) if record is not None else None,
        }


def _answers(record: InteractionRecord) -> list[dict[str, Any]]:
    """The messages an interaction created (not the message a click edited in place)."""
    found = []
    callback_type = (record.callback or {}).get("type")
    if record.original is not None and callback_type in (4, 5) and not record.deleted_original:
        found.append(record.original)
    found.extend(record.followups)
    return found


def _refusals_by_place(
    violations: list[Violation], by_token: Mapping[str, InteractionRecord]
) -> dict[tuple[str, int], list[dict[str, str]]]:
    """Each violation under the interaction or channel its request was about, else under ("server", 0)."""
    places: dict[tuple[str, int], list[dict[str, str]]] = {}
    for violation in violations:
        shown = {"kind": violation.kind, "detail": violation.detail, "request": f"{violation.method} {violation.path}"}
        place: tuple[str, int] = ("server", 0)
        if match := _INTERACTION_PATH.match(violation.path):
            place = ("interaction", int(match.group(1)))
        elif (match := _WEBHOOK_PATH.match(violation.path)) and match.group(1) in by_token:
            place = ("interaction", by_token[match.group(1)].id)
        elif match := _CHANNEL_PATH.match(violation.path):
            place = ("channel", int(match.group(1)))
        places.setdefault(place, []).append(shown)
    return places


def _choice_name(choice: Mapping[str, Any], locale: str) -> str:
    return str((choice.get("name_localizations") or {}).get(locale) or choice["name"])


def _locale(locale: str) -> str:
    if locale not in LOCALES:
        raise DemoError(f"the demo speaks {' and '.join(LOCALES)}, not {locale!r}")
    return locale


def _typed_value(command: str, definition: Mapping[str, Any], raw: Any) -> Any:
    """A value typed in the page as the JSON type Discord sends for this option type."""
    kind, option = definition["type"], definition["name"]
    text = str(raw).strip()
    try:
        if kind == INTEGER:
            value: Any = int(text)
        elif kind == NUMBER:
            value = float(text)
        elif kind == BOOLEAN:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            value = text.lower() == "true"
        elif kind in (USER, CHANNEL, ROLE, MENTIONABLE):
            value = int(text)
        else:
            value = str(raw)
    except ValueError:
        raise DemoError(f"/{command} {option}: {text!r} is not a valid value") from None
    if kind in (INTEGER, NUMBER):
        low, high = definition.get("min_value"), definition.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise DemoError(f"/{command} {option} must be between {low} and {high}")
    if kind == STRING:
        low, high = definition.get("min_length"), definition.get("max_length")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise DemoError(f"/{command} {option} must be {low or 0}-{high} characters")
    return value
