"""REST handlers for channel webhooks and for threads opened on a message.

Channel webhooks: created, listed and fetched with the bot's authorisation and Manage Webhooks
(the answers carry the webhook's token, as Discord's do for the bot that may manage them), and
executed with only their id and token, as a blog's "incoming webhook" would be. A message sent
through one has the webhook as its author (the username and avatar given, else the webhook's)
and carries `webhook_id` — and no nonce: Discord takes none from webhooks.

The execute route shares its path shape with interaction follow-ups (`/webhooks/{app_id}/{token}`);
it only takes ids of channel webhooks, so follow-ups still reach the interaction routes.
"""

from __future__ import annotations

from typing import Any

from .gateway import Gateway
from .records import (
    ANNOUNCEMENT,
    ANNOUNCEMENT_THREAD,
    CREATE_PUBLIC_THREADS,
    GUILD_MESSAGES_INTENT,
    GUILDS_INTENT,
    MANAGE_WEBHOOKS,
    MESSAGE_CREATE_FLAGS,
    PUBLIC_THREAD,
    TEXT,
    VIEW_CHANNEL,
    HTTPError,
    snowflake_arg,
)
from .rest import ApiRequest, RestApi
from .world import World

# Discord refuses these in a webhook message's username (and in a webhook's name).
FORBIDDEN_IN_NAMES = ("discord", "clyde")
FORBIDDEN_NAMES = ("everyone", "here")
WEBHOOK_CHANNEL_TYPES = (TEXT, ANNOUNCEMENT)


class WebhookRoutes:
    """Channel webhooks and message threads, over the world and the gateway that echoes their events."""

    def __init__(self, world: World, gateway: Gateway) -> None:
        self.world = world
        self.gateway = gateway
        #: username and avatar_url each webhook message was sent with, by message id.
        self.executions: dict[int, dict[str, Any]] = {}

    def register(self, rest: RestApi) -> None:
        r = rest.route
        r("GET", "/channels/{channel_id}/webhooks", self._list_webhooks)
        r("POST", "/channels/{channel_id}/webhooks", self._create_webhook)
        r("GET", "/webhooks/{webhook_id}", self._get_webhook)
        r("DELETE", "/webhooks/{webhook_id}", self._delete_webhook)
        r("POST", "/webhooks/{webhook_id}/{webhook_token}", self._execute, when=self._is_channel_webhook)
        r("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._thread_from_message)

    def _is_channel_webhook(self, params: dict[str, str]) -> bool:
        webhook_id = int(params["webhook_id"]) if params.get("webhook_id", "").isdigit() else None
        return webhook_id in self.world.webhooks or webhook_id in self.world.deleted_webhooks

    # ------------------------------------------------------------------ helpers

    def _channel(self, channel_id: str | int, needed: int) -> dict[str, Any]:
        channel = self.world.channels.get(snowflake_arg(channel_id))
        if channel is None:
            raise HTTPError(404, "Unknown Channel", 10003)
        perms = self.world.permissions(int(channel["guild_id"]), self.world.application_id, int(channel["id"]))
        if not perms & VIEW_CHANNEL:
            raise HTTPError(403, "Missing Access", 50001)
        if perms & needed != needed:
            raise HTTPError(403, "Missing Permissions", 50013)
        return channel

    def _webhook(self, webhook_id: str) -> dict[str, Any]:
        webhook = self.world.webhooks.get(snowflake_arg(webhook_id))
        if webhook is None:
            raise HTTPError(404, "Unknown Webhook", 10015)
        return webhook

    @staticmethod
    def _check_name(name: str, what: str) -> None:
        folded = name.casefold()
        if any(word in folded for word in FORBIDDEN_IN_NAMES) or folded.strip() in FORBIDDEN_NAMES:
            raise HTTPError(400, "Invalid Form Body", 50035, f"{what} {name!r} is one Discord refuses")

    # ------------------------------------------------------------------ webhooks

    async def _list_webhooks(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"], MANAGE_WEBHOOKS)
        return [w for w in self.world.webhooks.values() if w["channel_id"] == channel["id"]]

    async def _create_webhook(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"], MANAGE_WEBHOOKS)
        if channel["type"] not in WEBHOOK_CHANNEL_TYPES:
            raise HTTPError(400, "Invalid Form Body", 50035)
        name = str((req.body or {}).get("name") or "")
        self._check_name(name, "webhook name")
        return self.world.add_webhook(int(channel["id"]), name, by_bot=True)

    async def _get_webhook(self, req: ApiRequest) -> Any:
        webhook = self._webhook(req.params["webhook_id"])
        if req.headers.get("Authorization") is None:
            raise HTTPError(401, "401: Unauthorized", 0, "GET /webhooks/{id} without the bot's authorisation")
        self._channel(webhook["channel_id"], MANAGE_WEBHOOKS)
        return webhook

    async def _delete_webhook(self, req: ApiRequest) -> Any:
        webhook = self._webhook(req.params["webhook_id"])
        self._channel(webhook["channel_id"], MANAGE_WEBHOOKS)
        self.world.remove_webhook(int(webhook["id"]))
        return None

    async def _execute(self, req: ApiRequest) -> Any:
        webhook = self._webhook(req.params["webhook_id"])
        if req.params["webhook_token"] != webhook["token"]:
            raise HTTPError(401, "Invalid Webhook Token", 50027)
        channel = self.world.channels.get(int(webhook["channel_id"]))
        if channel is None:
            raise HTTPError(404, "Unknown Webhook", 10015)
        body = req.body or {}
        if not any(body.get(k) for k in ("content", "embeds", "components", "poll")) and not req.files:
            raise HTTPError(400, "Cannot send an empty message", 50006, "empty webhook message")
        if body.get("thread_name") or req.query.get("thread_id"):
            raise HTTPError(400, "Invalid Form Body", 50035, "thread_name/thread_id outside a forum")
        username = body.get("username") or webhook["name"]
        self._check_name(username, "username")
        msg = self.world.message_json(
            int(channel["id"]), body, req.files, flags=int(body.get("flags") or 0) & MESSAGE_CREATE_FLAGS
        )
        msg.pop("nonce", None)  # webhooks take none
        msg["webhook_id"] = webhook["id"]
        msg["application_id"] = webhook["application_id"]
        msg["author"] = {
            "id": webhook["id"],
            "username": username,
            "avatar": None,
            "discriminator": "0000",
            "public_flags": 0,
            "flags": 0,
            "bot": True,
            "global_name": None,
        }
        self.executions[int(msg["id"])] = {"username": body.get("username"), "avatar_url": body.get("avatar_url")}
        self.world.sent_messages.setdefault(int(channel["id"]), []).append(msg)
        await self.gateway.echo("MESSAGE_CREATE", msg, GUILD_MESSAGES_INTENT)
        return msg if req.query.get("wait") in ("1", "true", "True") else None

    # ------------------------------------------------------------------ threads on messages

    async def _thread_from_message(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"], CREATE_PUBLIC_THREADS)
        if channel["type"] not in WEBHOOK_CHANNEL_TYPES:
            raise HTTPError(400, "Cannot execute action on this channel type", 50024)
        msg = self.world.messages_by_id.get(snowflake_arg(req.params["message_id"]))
        if msg is None or msg["channel_id"] != channel["id"]:
            raise HTTPError(404, "Unknown Message", 10008)
        if msg.get("thread"):
            raise HTTPError(400, "A thread has already been created for this message", 160004)
        body = req.body or {}
        kind = ANNOUNCEMENT_THREAD if channel["type"] == ANNOUNCEMENT else PUBLIC_THREAD
        thread = self.world.add_thread_on(msg, str(body["name"]), kind)
        if body.get("auto_archive_duration"):
            thread["thread_metadata"]["auto_archive_duration"] = body["auto_archive_duration"]
        await self.gateway.echo("THREAD_CREATE", {**thread, "newly_created": True}, GUILDS_INTENT)
        return thread
