"""The interaction driver: what a Discord user does to the bot (a slash command, an autocomplete, a click).

Each injection builds the INTERACTION_CREATE payload Discord would send, with the member's permissions and
``resolved`` objects, dispatches it on the gateway and returns an :class:`InteractionHandle` to await the
bot's answers with.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from typing import Any

from .gateway import Gateway
from .records import (
    BOT_DM_CONTEXT,
    BOT_DM_PERMISSIONS,
    GUILD_CONTEXT,
    GUILD_INSTALL,
    LOADING,
    PRIVATE_CHANNEL_CONTEXT,
    TEXT,
    USER_APP_GUILD_PERMISSIONS,
    USER_APP_PERMISSIONS,
    USER_INSTALL,
    InteractionRecord,
    Monitor,
    snowflake_arg,
)
from .world import World


class CommandNotOffered(ValueError):
    """Discord's client would not offer this command here (its contexts or installs exclude the place)."""


class InteractionHandle:
    """What an injection helper returns: await the bot's answers to one interaction."""

    def __init__(self, monitor: Monitor, record: InteractionRecord) -> None:
        self._monitor = monitor
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
        await self._monitor.wait_for(lambda: self.record.callback is not None, timeout_s, f"callback of {self.id}")
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

        await self._monitor.wait_for(done, timeout_s, f"final message of interaction {self.id}")
        assert self.record.original is not None
        return self.record.original

    async def followups(self, count: int = 1, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """The follow-up messages, once at least ``count`` have been sent."""
        await self._monitor.wait_for(
            lambda: len(self.record.followups) >= count, timeout_s, f"{count} follow-up(s) of {self.id}"
        )
        return list(self.record.followups)


class InteractionDriver:
    """Injects interactions as a user in the emulated world; defaults: the only guild, its first text channel,
    its first human member who is not the owner."""

    def __init__(self, world: World, gateway: Gateway, monitor: Monitor) -> None:
        self.world = world
        self.gateway = gateway
        self.monitor = monitor

    def _default_guild(self, guild_id: int | None) -> int:
        if guild_id is not None:
            return guild_id
        joined = self.world.joined_guilds()
        if len(joined) != 1:
            raise ValueError(f"pass guild_id: the bot is in {len(joined)} of the emulator's guilds")
        return joined[0]

    def _default_channel(self, guild_id: int, channel_id: int | None) -> int:
        if channel_id is not None:
            return channel_id
        for cid in self.world.guilds[guild_id]["channel_ids"]:
            if self.world.channels[cid]["type"] == TEXT:
                return cid
        raise ValueError("pass channel_id: the guild has no text channel")

    def _default_user(self, guild_id: int, user: int | None) -> int:
        if user is not None:
            return user
        owner = int(self.world.guilds[guild_id]["owner_id"])
        for uid in self.world.guilds[guild_id]["members"]:
            if uid not in (owner, self.world.application_id):
                return uid
        return owner

    def interaction_base(
        self, itype: int, guild_id: int | None, channel_id: int | None, user: int | None, locale: str
    ) -> dict[str, Any]:
        """The fields every interaction has, for ``user`` in a channel of a guild, a DM or a group DM.

        ``authorizing_integration_owners`` names every install that could run a command here (the
        guild's if the bot is in it, the user's if they installed the app); `_offer` narrows it to
        the command's ``integration_types``.
        """
        if channel_id is not None and self.world.is_private(channel_id):
            return self._private_base(itype, channel_id, user, locale)
        if guild_id is None and channel_id is not None:
            guild_id = int(self.world.channels[channel_id]["guild_id"])
        gid = self._default_guild(guild_id)
        cid = self._default_channel(gid, channel_id)
        uid = self._default_user(gid, user)
        guild = self.world.guilds[gid]
        member = dict(guild["members"][uid])
        member["permissions"] = str(self.world.permissions(gid, uid, cid))
        channel = dict(self.world.channels[cid])
        channel["permissions"] = member["permissions"]
        in_guild = self.world.bot_in_guild(gid)
        app_permissions = self.world.permissions(gid, self.world.application_id, cid) if in_guild else None
        owners = {GUILD_INSTALL: str(gid)} if in_guild else {}
        return self._common(itype, cid, uid, locale, owners, GUILD_CONTEXT, app_permissions) | {
            "guild_id": str(gid),
            "guild": {"id": str(gid), "locale": guild["preferred_locale"], "features": guild["features"]},
            "channel": channel,
            "member": member,
            "guild_locale": guild["preferred_locale"],
        }

    def _private_base(self, itype: int, channel_id: int, user: int | None, locale: str) -> dict[str, Any]:
        members = self.world.private_members[channel_id]
        if user is None or user not in members:
            raise ValueError(f"pass user: one of the people in private channel {channel_id}")
        with_bot = self.world.application_id in members
        # In its own DM the bot answers through the guild install too (Discord's owner id is then "0").
        owners = {GUILD_INSTALL: "0"} if with_bot else {}
        context = BOT_DM_CONTEXT if with_bot else PRIVATE_CHANNEL_CONTEXT
        app_permissions = BOT_DM_PERMISSIONS if with_bot else None
        return self._common(itype, channel_id, user, locale, owners, context, app_permissions) | {
            "channel": dict(self.world.channels[channel_id]),
            "user": self.world.users[user],
        }

    def _common(
        self,
        itype: int,
        channel_id: int,
        user_id: int,
        locale: str,
        owners: dict[str, str],
        context: int,
        app_permissions: int | None,
    ) -> dict[str, Any]:
        if user_id in self.world.user_installs:
            owners = owners | {USER_INSTALL: str(user_id)}
        if app_permissions is None:  # only the user's install: what any user-installed app may do
            app_permissions = USER_APP_GUILD_PERMISSIONS if context == GUILD_CONTEXT else USER_APP_PERMISSIONS
        interaction_id = self.world.snowflake()
        return {
            "id": str(interaction_id),
            "application_id": str(self.world.application_id),
            "type": itype,
            "channel_id": str(channel_id),
            "token": f"emulator-interaction-token-{interaction_id}-{secrets.token_urlsafe(16)}",
            "version": 1,
            "app_permissions": str(app_permissions),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": owners,
            "context": context,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    @staticmethod
    def _offer(command: Mapping[str, Any], payload: dict[str, Any]) -> None:
        """Narrow the payload's installs to the command's, or refuse as Discord's client would: not offered here.

        Discord's defaults for a command registered without them: installable to guilds only, usable
        in every context; a guild command only in its guild; a private channel only through a user install.
        """
        name, context = command["name"], payload["context"]
        installs = {str(kind) for kind in command.get("integration_types") or [0]}
        owners = {k: v for k, v in payload["authorizing_integration_owners"].items() if k in installs}
        contexts = command.get("contexts")
        if contexts is None:
            contexts = [GUILD_CONTEXT, BOT_DM_CONTEXT, PRIVATE_CHANNEL_CONTEXT]
        if command.get("guild_id"):
            contexts = [GUILD_CONTEXT] if command["guild_id"] == payload.get("guild_id") else []
        if context not in contexts:
            raise CommandNotOffered(f"/{name} is not offered in interaction context {context} (contexts {contexts})")
        if not owners or (context == PRIVATE_CHANNEL_CONTEXT and USER_INSTALL not in owners):
            raise CommandNotOffered(
                f"/{name} (integration_types {sorted(installs)}) is not installed here: "
                f"installs present {sorted(payload['authorizing_integration_owners'])}"
            )
        payload["authorizing_integration_owners"] = owners

    async def _inject(self, payload: dict[str, Any]) -> InteractionHandle:
        record = InteractionRecord(
            id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            payload=payload,
            channel_id=snowflake_arg(payload["channel_id"]) if payload.get("channel_id") else None,
        )
        self.world.interactions[record.id] = record
        self.world.interactions_by_token[record.token] = record
        record.dispatched_at = asyncio.get_running_loop().time()
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return InteractionHandle(self.monitor, record)

    def _build_options(
        self,
        defs: list[dict[str, Any]],
        values: Mapping[str, Any],
        guild_id: int | None,
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

    def _resolve(self, otype: int, value: Any, guild_id: int | None, resolved: dict[str, Any]) -> None:
        try:
            ident = int(value)
        except (TypeError, ValueError):
            return
        if guild_id is None:  # a DM: users only
            if otype in (6, 9) and ident in self.world.users:
                resolved.setdefault("users", {})[str(ident)] = self.world.users[ident]
            return
        guild = self.world.guilds[guild_id]
        if otype in (6, 9) and ident in self.world.users:
            resolved.setdefault("users", {})[str(ident)] = self.world.users[ident]
            member = guild["members"].get(ident)
            if member is not None:
                m = {k: v for k, v in member.items() if k != "user"}
                m["permissions"] = str(self.world.permissions(guild_id, ident))
                resolved.setdefault("members", {})[str(ident)] = m
        if otype in (8, 9) and ident in guild["roles"]:
            resolved.setdefault("roles", {})[str(ident)] = guild["roles"][ident]
        if otype == 7 and ident in self.world.channels:
            ch = self.world.channels[ident]
            resolved.setdefault("channels", {})[str(ident)] = {
                k: ch[k] for k in ("id", "name", "type", "parent_id", "thread_metadata") if k in ch
            } | {"permissions": str(self.world.permissions(guild_id, self.world.application_id, ident))}

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
        payload = self.interaction_base(itype, guild_id, channel_id, user, locale)
        gid = int(payload["guild_id"]) if "guild_id" in payload else None
        await self.monitor.wait_for(
            lambda: self.world.find_command(name, gid) is not None, timeout_s, f"the bot to register command {name!r}"
        )
        command = self.world.find_command(name, gid)
        assert command is not None
        self._offer(command, payload)
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
        msg = self.world.messages_by_id.get(mid)
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
        guild = self.world.channels[channel_id].get("guild_id")
        origin = self.world.interactions.get(int(msg.get("interaction_metadata", {}).get("id", 0)))
        if user is None and origin is not None and self.world.is_private(channel_id):
            user = int(origin.payload["user"]["id"])
        payload = self.interaction_base(3, int(guild) if guild else None, channel_id, user, locale)
        if origin is not None:  # a click on a reply runs through the install that sent the reply
            payload["authorizing_integration_owners"] = dict(origin.payload["authorizing_integration_owners"])
        payload["message"] = msg
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        return await self._inject(payload)
