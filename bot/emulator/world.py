"""The emulated Discord's state: users, guilds, roles, channels, commands, messages and interactions.

Nothing here speaks HTTP or websockets; the REST routes, the gateway and the interaction driver read and change
this state, and a test (or the demo) builds its server here before the bot connects.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from .private import PrivatePlaces
from .records import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ANNOUNCEMENT,
    BOT_DEFAULT,
    EVERYONE_DEFAULT,
    FORUM,
    MEDIA,
    TEXT,
    THREAD_TYPES,
    InteractionRecord,
    Snowflakes,
    now_iso,
)


class World(PrivatePlaces):
    """Discord's side of things, as plain dicts shaped like Discord's JSON (so they can be sent as they are)."""

    def __init__(self, bot_name: str = "Kiji") -> None:
        self.snowflake = Snowflakes()
        self.application_id = self.snowflake()
        self.bot_user: dict[str, Any] = self.user_json(self.application_id, bot_name, bot=True)
        self.users: dict[int, dict[str, Any]] = {self.application_id: self.bot_user}
        #: Where attachment URLs point (the emulator's own address once it listens).
        self.public_url = "http://127.0.0.1"

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
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        #: Channel webhooks (with their tokens), by id, and the ids of deleted ones (Discord answers 404 for them).
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.deleted_webhooks: set[int] = set()
        self.private_members: dict[int, set[int]] = {}
        self.user_installs: set[int] = set()

    @staticmethod
    def user_json(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
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
        with_bot: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> int:
        """Create a guild with @everyone, an owner, and the bot as member (with a role of ``bot_permissions``).

        ``shard=(id, count)``: an id whose events go to that shard, ``(guild_id >> 22) % count == id``.

        ``with_bot=False``: a server that never added the bot; it gets no GUILD_CREATE and refuses the bot's
        REST calls, but its members can use the app's commands through their own user install.
        """
        guild_id = self.snowflake()
        if shard is not None:  # a few milliseconds earlier, so that the shard formula gives `shard`
            shard_id, count = shard
            guild_id -= (((guild_id >> 22) - shard_id) % count) << 22
        owner_id = self.snowflake()
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
            "joined_at": now_iso(),
        }
        self.guilds[guild_id]["roles"][guild_id] = self.role_json(guild_id, "@everyone", everyone_permissions, 0)
        self.add_member(guild_id, owner_id, "Owner")
        if not with_bot:
            return guild_id
        bot_role = self.add_role(guild_id, self.bot_user["global_name"], bot_permissions, managed=True)
        self.guilds[guild_id]["members"][self.application_id] = self.member_json(self.bot_user, [bot_role])
        return guild_id

    def bot_in_guild(self, guild_id: int) -> bool:
        return self.application_id in self.guilds[guild_id]["members"]

    def joined_guilds(self) -> list[int]:
        """The guilds the bot is a member of: the ones the gateway announces."""
        return [guild_id for guild_id in self.guilds if self.bot_in_guild(guild_id)]

    @staticmethod
    def role_json(role_id: int, name: str, permissions: int, position: int, managed: bool = False) -> dict[str, Any]:
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
        role_id = self.snowflake()
        guild["roles"][role_id] = self.role_json(role_id, name, permissions, len(guild["roles"]), managed)
        return role_id

    @staticmethod
    def member_json(user: dict[str, Any], roles: list[int]) -> dict[str, Any]:
        return {
            "user": user,
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in roles],
            "joined_at": now_iso(),
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
        user_id = user_id or self.snowflake()
        user = self.users.setdefault(user_id, self.user_json(user_id, name))
        role_ids = list(roles)
        if permissions is not None:
            role_ids.append(self.add_role(guild_id, f"{name}-role", permissions))
        self.guilds[guild_id]["members"][user_id] = self.member_json(user, role_ids)
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
        flags: int = 0,
    ) -> int:
        """Add a channel (0 text, 5 announcement, 15 forum, 11 thread, …).

        ``permission_overwrites`` items: ``{"id": role_or_user_id, "type": 0 (role) | 1 (member),
        "allow": int, "deny": int}``.
        """
        channel_id = self.snowflake()
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
            "flags": flags,
            "last_message_id": None,
        }
        if type in (TEXT, ANNOUNCEMENT, FORUM, MEDIA):
            data["topic"] = topic
        if type in (FORUM, MEDIA):
            data["available_tags"] = [
                {"id": str(self.snowflake()), "name": t, "moderated": False, "emoji_id": None, "emoji_name": None}
                for t in available_tags
            ]
            data["default_reaction_emoji"] = None
            data["default_thread_rate_limit_per_user"] = 0
            data["default_sort_order"] = None
            data["default_forum_layout"] = 0
        if type in THREAD_TYPES:
            data.update(self.thread_extra())
        self.channels[channel_id] = data
        guild["channel_ids"].append(channel_id)
        return channel_id

    def add_webhook(self, channel_id: int, name: str, *, by_bot: bool = False) -> dict[str, Any]:
        """A channel webhook, made by the bot (``by_bot``) or by a server admin."""
        channel = self.channels[channel_id]
        webhook_id = self.snowflake()
        owner = self.bot_user if by_bot else self.user_json(self.snowflake(), "admin")
        webhook: dict[str, Any] = {
            "id": str(webhook_id),
            "type": 1,
            "guild_id": channel["guild_id"],
            "channel_id": channel["id"],
            "user": owner,
            "name": name,
            "avatar": None,
            "token": secrets.token_urlsafe(48),
            "application_id": str(self.application_id) if by_bot else None,
        }
        webhook["url"] = f"{self.public_url}/api/webhooks/{webhook_id}/{webhook['token']}"
        self.webhooks[webhook_id] = webhook
        return webhook

    def remove_webhook(self, webhook_id: int) -> None:
        """Delete a channel webhook (as a server admin would in the channel's settings)."""
        del self.webhooks[webhook_id]
        self.deleted_webhooks.add(webhook_id)

    def add_thread_on(self, msg: dict[str, Any], name: str, kind: int) -> dict[str, Any]:
        """A thread started from a channel message: as on Discord, it has the message's id."""
        parent = self.channels[int(msg["channel_id"])]
        temporary = self.add_channel(int(parent["guild_id"]), name, kind, parent_id=int(parent["id"]))
        guild = self.guilds[int(parent["guild_id"])]
        thread = self.channels.pop(temporary)
        guild["channel_ids"].remove(temporary)
        thread["id"] = msg["id"]
        self.channels[int(msg["id"])] = thread
        guild["channel_ids"].append(int(msg["id"]))
        msg["thread"] = thread
        return thread

    def remove_channel(self, channel_id: int) -> dict[str, Any]:
        """Delete a channel (as a server admin would); returns its data for a CHANNEL_DELETE dispatch."""
        data = self.channels.pop(channel_id)
        self.guilds[int(data["guild_id"])]["channel_ids"].remove(channel_id)
        return data

    def thread_extra(self) -> dict[str, Any]:
        return {
            "owner_id": str(self.application_id),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": now_iso(),
                "locked": False,
                "create_timestamp": now_iso(),
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

    def guild_create(self, guild_id: int) -> dict[str, Any]:
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

    def application_json(self) -> dict[str, Any]:
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
            "owner": self.user_json(1, "app-owner"),
            "team": None,
            "bot": self.bot_user,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "rpc_origins": [],
            "approximate_guild_count": len(self.joined_guilds()),
            "integration_types_config": {"0": {}, "1": {}},  # Guild Install and User Install enabled
        }

    def command_store(self, guild_id: int | None) -> dict[int, dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.setdefault(guild_id, {})

    def commands_visible(self, guild_id: int | None) -> list[dict[str, Any]]:
        found = list(self.global_commands.values())
        if guild_id is not None:
            found += list(self.guild_commands.get(guild_id, {}).values())
        return found

    def command_json(self, guild_id: int | None, body: Mapping[str, Any]) -> dict[str, Any]:
        ctype = body.get("type", 1)
        key = (guild_id, ctype, body["name"])
        cid = self._command_ids.setdefault(key, self.snowflake())
        data: dict[str, Any] = {
            "id": str(cid),
            "application_id": str(self.application_id),
            "version": str(self.snowflake()),
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

    def find_command(self, name: str, guild_id: int | None = None, type: int = 1) -> dict[str, Any] | None:
        """The command the bot registered under ``name`` (guild commands first)."""
        candidates = list(self.guild_commands.get(guild_id, {}).values()) if guild_id else []
        candidates += list(self.global_commands.values())
        for command in candidates:
            if command["name"] == name and command.get("type", 1) == type:
                return command
        return None

    def message_json(
        self,
        channel_id: int,
        body: Mapping[str, Any],
        files: list[tuple[str, str, int]],
        *,
        message_type: int = 0,
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
    ) -> dict[str, Any]:
        message_id = self.snowflake()
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
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "flags": 0,
        }
        if channel is not None and channel.get("guild_id"):
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
        self.apply_edit(msg, body, files, initial=True)
        if flags is not None:
            msg["flags"] = flags
        self.messages_by_id[message_id] = msg
        if channel is not None:
            channel["last_message_id"] = msg["id"]
        return msg

    def apply_edit(
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
                        "id": str(a["id"]) if len(str(a.get("id", ""))) > 5 else str(self.snowflake()),
                        "filename": filename,
                        "size": sizes.get(filename, 0),
                        "url": f"{self.public_url}/attachments/{filename}",
                        "proxy_url": f"{self.public_url}/attachments/{filename}",
                        "content_type": "application/octet-stream",
                    }
                )
            msg["attachments"] = attachments
        if not initial:
            msg["edited_timestamp"] = now_iso()
