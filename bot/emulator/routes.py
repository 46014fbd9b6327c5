"""REST handlers for everything but interactions: identity, application commands, channels, threads, guilds.

Refusals are Discord's (403 Missing Permissions, 404 Unknown Channel, ...) and are not violations: the bot must
cope with them. Things only a broken bot would do (a wrong application id, an empty message) are violations too.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from .gateway import Gateway
from .records import (
    CATEGORY,
    CREATE_PUBLIC_THREADS,
    FORUM,
    GUILD_MESSAGES_INTENT,
    GUILDS_INTENT,
    MAX_APPLIED_TAGS,
    MEDIA,
    MESSAGE_CREATE_FLAGS,
    NONCE_WINDOW_S,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    READ_MESSAGE_HISTORY,
    REQUIRE_TAG,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    THREAD_TYPES,
    VIEW_CHANNEL,
    HTTPError,
    snowflake_arg,
)
from .rest import ApiRequest, RestApi
from .webhook_routes import WebhookRoutes
from .world import World


class DiscordRoutes:
    """The handlers, over the world they read and change and the gateway they echo events on."""

    def __init__(self, world: World, gateway: Gateway) -> None:
        self.world = world
        self.gateway = gateway
        self._nonces: dict[tuple[int, str], tuple[float, dict[str, Any]]] = {}
        self.nonce_duplicates = 0
        self.webhooks = WebhookRoutes(world, gateway)

    def register(self, rest: RestApi) -> None:
        r = rest.route
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
        self.webhooks.register(rest)

    # ------------------------------------------------------------------ REST handlers: identity

    async def _get_me(self, req: ApiRequest) -> Any:
        return self.world.bot_user

    async def _get_user(self, req: ApiRequest) -> Any:
        user = self.world.users.get(snowflake_arg(req.params["user_id"]))
        if user is None:
            raise HTTPError(404, "Unknown User", 10013)
        return user

    async def _get_my_guilds(self, req: ApiRequest) -> Any:
        return [
            {
                "id": g["id"],
                "name": g["name"],
                "icon": None,
                "owner": False,
                "permissions": str(self.world.permissions(gid, self.world.application_id)),
                "features": [],
            }
            for gid, g in self.world.guilds.items()
            if self.world.bot_in_guild(gid)
        ]

    async def _get_gateway(self, req: ApiRequest) -> Any:
        data: dict[str, Any] = {"url": self.gateway.gateway_url}
        if req.path.endswith("/bot"):
            data.update(
                shards=1, session_start_limit={"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            )
        return data

    async def _get_application(self, req: ApiRequest) -> Any:
        return self.world.application_json()

    # ------------------------------------------------------------------ REST handlers: commands

    def _check_app(self, req: ApiRequest) -> int | None:
        if snowflake_arg(req.params["app_id"]) != self.world.application_id:
            raise HTTPError(403, "Missing Access", 50001, f"wrong application id {req.params['app_id']}")
        gid = req.params.get("guild_id")
        if gid is None:
            return None
        guild_id = snowflake_arg(gid)
        if guild_id not in self.world.guilds:
            raise HTTPError(403, "Missing Access", 50001, f"guild {gid} unknown to the emulator")
        if not self.world.bot_in_guild(guild_id):
            raise HTTPError(403, "Missing Access", 50001)
        return guild_id

    async def _get_commands(self, req: ApiRequest) -> Any:
        return list(self.world.command_store(self._check_app(req)).values())

    async def _put_commands(self, req: ApiRequest) -> Any:
        guild_id = self._check_app(req)
        if not isinstance(req.body, list):
            raise HTTPError(400, "Invalid Form Body", 50035, "bulk overwrite body is not a list")
        store = self.world.command_store(guild_id)
        store.clear()
        for body in req.body:
            data = self.world.command_json(guild_id, body)
            store[int(data["id"])] = data
        self.world.command_syncs += 1
        return list(store.values())

    async def _post_command(self, req: ApiRequest) -> Any:
        guild_id = self._check_app(req)
        data = self.world.command_json(guild_id, req.body)
        self.world.command_store(guild_id)[int(data["id"])] = data
        return data

    def _find_command_by_id(self, req: ApiRequest) -> dict[str, Any]:
        store = self.world.command_store(self._check_app(req))
        command = store.get(snowflake_arg(req.params["command_id"]))
        if command is None:
            raise HTTPError(404, "Unknown application command", 10063)
        return command

    async def _get_command(self, req: ApiRequest) -> Any:
        return self._find_command_by_id(req)

    async def _patch_command(self, req: ApiRequest) -> Any:
        command = self._find_command_by_id(req)
        command.update({k: v for k, v in req.body.items() if k in command})
        return command

    async def _delete_command(self, req: ApiRequest) -> Any:
        command = self._find_command_by_id(req)
        self.world.command_store(self._check_app(req)).pop(int(command["id"]))
        return None

    def _channel_or_404(self, channel_id: str) -> dict[str, Any]:
        channel = self.world.channels.get(snowflake_arg(channel_id))
        if channel is None:
            raise HTTPError(404, "Unknown Channel", 10003)
        return channel

    def _require(self, channel: dict[str, Any], needed: int) -> None:
        """The bot's permission in a channel: none at all in a server it is not in or a DM it is not part of."""
        if self.world.is_private(int(channel["id"])):
            if self.world.application_id not in self.world.private_members[int(channel["id"])]:
                raise HTTPError(403, "Missing Access", 50001)
            return
        guild_id = int(channel["guild_id"])
        if not self.world.bot_in_guild(guild_id):
            raise HTTPError(403, "Missing Access", 50001)
        perms = self.world.permissions(guild_id, self.world.application_id, int(channel["id"]))
        if not perms & VIEW_CHANNEL:
            raise HTTPError(403, "Missing Access", 50001)
        if perms & needed != needed:
            raise HTTPError(403, "Missing Permissions", 50013)

    async def _get_channel(self, req: ApiRequest) -> Any:
        channel = self._channel_or_404(req.params["channel_id"])
        self._require(channel, 0)
        return channel

    async def _get_channel_messages(self, req: ApiRequest) -> Any:
        channel = self._channel_or_404(req.params["channel_id"])
        self._require(channel, READ_MESSAGE_HISTORY)
        limit = int(req.query.get("limit", "50"))
        return list(reversed(self.world.sent_messages.get(int(channel["id"]), [])))[:limit]

    async def _post_channel_message(self, req: ApiRequest) -> Any:
        channel = self._channel_or_404(req.params["channel_id"])
        channel_id = int(channel["id"])
        if channel["type"] in (FORUM, MEDIA, CATEGORY):
            raise HTTPError(
                400,
                "Cannot send messages in this type of channel",
                50008,
                f"POST message to a channel of type {channel['type']}",
            )
        self._require(channel, SEND_MESSAGES_IN_THREADS if channel["type"] in THREAD_TYPES else SEND_MESSAGES)
        body = req.body or {}
        if not any(body.get(k) for k in ("content", "embeds", "components", "sticker_ids", "poll")) and not req.files:
            raise HTTPError(400, "Cannot send an empty message", 50006, "empty message")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((channel_id, str(nonce)))
            if seen is not None and time.monotonic() - seen[0] < NONCE_WINDOW_S:
                self.nonce_duplicates += 1
                return seen[1]
        msg = self.world.message_json(
            channel_id, body, req.files, flags=int(body.get("flags") or 0) & MESSAGE_CREATE_FLAGS
        )
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[(channel_id, str(nonce))] = (time.monotonic(), msg)
        self.world.sent_messages.setdefault(channel_id, []).append(msg)
        await self.gateway.echo("MESSAGE_CREATE", msg, GUILD_MESSAGES_INTENT)
        return msg

    def _channel_message(self, req: ApiRequest) -> dict[str, Any]:
        channel = self._channel_or_404(req.params["channel_id"])
        msg = self.world.messages_by_id.get(snowflake_arg(req.params["message_id"]))
        if msg is None or msg["channel_id"] != channel["id"]:
            raise HTTPError(404, "Unknown Message", 10008)
        return msg

    async def _get_channel_message(self, req: ApiRequest) -> Any:
        return self._channel_message(req)

    async def _patch_channel_message(self, req: ApiRequest) -> Any:
        msg = self._channel_message(req)
        self.world.apply_edit(msg, req.body or {}, req.files)
        return msg

    async def _delete_channel_message(self, req: ApiRequest) -> Any:
        msg = self._channel_message(req)
        del self.world.messages_by_id[int(msg["id"])]
        with contextlib.suppress(ValueError):
            self.world.sent_messages.get(int(msg["channel_id"]), []).remove(msg)
        return None

    async def _post_thread(self, req: ApiRequest) -> Any:
        parent = self._channel_or_404(req.params["channel_id"])
        body = req.body or {}
        is_forum = parent["type"] in (FORUM, MEDIA)
        self._require(parent, SEND_MESSAGES if is_forum else CREATE_PUBLIC_THREADS)
        if is_forum and not isinstance(body.get("message"), dict):
            raise HTTPError(400, "Invalid Form Body", 50035, "forum thread without a starter message")
        thread_type = PUBLIC_THREAD if is_forum else int(body.get("type") or PRIVATE_THREAD)
        if is_forum:
            self._check_applied_tags(parent, body.get("applied_tags") or [])
        thread_id = self.world.add_channel(
            int(parent["guild_id"]), body["name"], thread_type, parent_id=int(parent["id"])
        )
        thread = self.world.channels[thread_id]
        thread["applied_tags"] = [str(t) for t in body.get("applied_tags") or []]
        if body.get("auto_archive_duration"):
            thread["thread_metadata"]["auto_archive_duration"] = body["auto_archive_duration"]
        if is_forum:
            starter = self.world.message_json(thread_id, body["message"], req.files)
            # A forum post's starter message has the thread's id.
            del self.world.messages_by_id[int(starter["id"])]
            starter["id"] = str(thread_id)
            self.world.messages_by_id[thread_id] = starter
            thread["last_message_id"] = starter["id"]
            thread["message_count"] = 1
            self.world.sent_messages.setdefault(thread_id, []).append(starter)
            await self.gateway.echo("THREAD_CREATE", {**thread, "newly_created": True}, GUILDS_INTENT)
            await self.gateway.echo("MESSAGE_CREATE", starter, GUILD_MESSAGES_INTENT)
            return {**thread, "message": starter}
        await self.gateway.echo("THREAD_CREATE", {**thread, "newly_created": True}, GUILDS_INTENT)
        return thread

    @staticmethod
    def _check_applied_tags(forum: dict[str, Any], applied: list[Any]) -> None:
        """A forum post's tags: the forum's own, at most five, and at least one where the forum requires it."""
        known = {t["id"] for t in forum.get("available_tags", [])}
        if len(applied) > MAX_APPLIED_TAGS or any(str(t) not in known for t in applied):
            raise HTTPError(400, "Invalid Form Body", 50035, f"applied_tags {applied} are not the forum's")
        if not applied and int(forum.get("flags") or 0) & REQUIRE_TAG:
            raise HTTPError(400, "A tag is required to create a forum post in this channel", 40067)

    async def _typing(self, req: ApiRequest) -> Any:
        self._channel_or_404(req.params["channel_id"])
        return None

    # ------------------------------------------------------------------ guild reads

    def _guild_or_404(self, guild_id: str) -> dict[str, Any]:
        guild = self.world.guilds.get(snowflake_arg(guild_id))
        if guild is None:
            raise HTTPError(404, "Unknown Guild", 10004)
        if not self.world.bot_in_guild(int(guild["id"])):
            raise HTTPError(403, "Missing Access", 50001)
        return guild

    async def _get_guild(self, req: ApiRequest) -> Any:
        guild = self._guild_or_404(req.params["guild_id"])
        return {k: v for k, v in guild.items() if k not in ("members", "channel_ids")} | {
            "roles": list(guild["roles"].values()),
            "emojis": [],
            "stickers": [],
        }

    async def _get_guild_channels(self, req: ApiRequest) -> Any:
        guild = self._guild_or_404(req.params["guild_id"])
        return [
            self.world.channels[c] for c in guild["channel_ids"] if self.world.channels[c]["type"] not in THREAD_TYPES
        ]

    async def _get_guild_roles(self, req: ApiRequest) -> Any:
        return list(self._guild_or_404(req.params["guild_id"])["roles"].values())

    async def _get_guild_member(self, req: ApiRequest) -> Any:
        guild = self._guild_or_404(req.params["guild_id"])
        uid = req.params["user_id"]
        member = guild["members"].get(self.world.application_id if uid == "@me" else snowflake_arg(uid))
        if member is None:
            raise HTTPError(404, "Unknown Member", 10007)
        return member
