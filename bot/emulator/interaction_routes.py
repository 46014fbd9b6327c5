"""REST handlers of the interaction side: the initial callback, follow-ups and ``@original`` edits.

Discord's rules are enforced here: one initial response within the deadline (3 s), a callback type valid for
the interaction type, no webhook use before the acknowledgement, at most 5 follow-ups where only a user's
install authorized the interaction. Where Discord itself makes replies ephemeral (a user-installed app in a
server that did not install it, for a member without Use External Apps) the emulator does so too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .records import (
    EPHEMERAL,
    GUILD_CONTEXT,
    GUILD_INSTALL,
    INTERACTION_DEADLINE_S,
    LOADING,
    MESSAGE_CREATE_FLAGS,
    USE_EXTERNAL_APPS,
    HTTPError,
    InteractionRecord,
    snowflake_arg,
)
from .rest import ApiRequest, RestApi
from .world import World

USER_INSTALL_FOLLOWUPS = 5  # follow-ups a user-installed app may send per interaction (June 2024)


def forced_ephemeral(record: InteractionRecord) -> int:
    """EPHEMERAL when Discord shows the app's replies to the invoking user only, whatever the app asked for."""
    payload = record.payload
    if payload.get("context") != GUILD_CONTEXT or GUILD_INSTALL in payload.get("authorizing_integration_owners", {}):
        return 0
    member_permissions = int(payload.get("member", {}).get("permissions") or 0)
    return 0 if member_permissions & USE_EXTERNAL_APPS else EPHEMERAL


def only_user_installed(record: InteractionRecord) -> bool:
    return GUILD_INSTALL not in record.payload.get("authorizing_integration_owners", {})


class InteractionRoutes:
    """``/interactions/{id}/{token}/callback`` and ``/webhooks/{app_id}/{token}/...``."""

    def __init__(self, world: World, deadline: float = INTERACTION_DEADLINE_S) -> None:
        self.world = world
        #: Seconds after dispatch within which the initial response must arrive.
        self.deadline = deadline

    def register(self, rest: RestApi) -> None:
        r = rest.route
        r("POST", "/interactions/{interaction_id}/{token}/callback", self._interaction_callback)
        r("POST", "/webhooks/{app_id}/{token}", self._post_followup)
        for verb, handler in (
            ("GET", self._get_webhook_message),
            ("PATCH", self._patch_webhook_message),
            ("DELETE", self._delete_webhook_message),
        ):
            r(verb, "/webhooks/{app_id}/{token}/messages/{message_id}", handler)

    def _interaction_for_webhook(self, req: ApiRequest) -> InteractionRecord:
        if snowflake_arg(req.params["app_id"]) != self.world.application_id:
            raise HTTPError(404, "Unknown Webhook", 10015, f"webhook id {req.params['app_id']} is not the app id")
        record = self.world.interactions_by_token.get(req.params["token"])
        if record is None:
            raise HTTPError(404, "Unknown Webhook", 10015, "unknown interaction token")
        if record.callback is None:
            raise HTTPError(
                404, "Unknown Webhook", 10015, f"webhook used before the interaction {record.id} was acknowledged"
            )
        return record

    async def _interaction_callback(self, req: ApiRequest) -> Any:
        record = self.world.interactions.get(snowflake_arg(req.params["interaction_id"]))
        if record is None or record.token != req.params["token"]:
            raise HTTPError(404, "Unknown interaction", 10062, "callback for an unknown interaction id/token")
        loop = asyncio.get_running_loop()
        elapsed = loop.time() - record.dispatched_at
        record.callback_attempts += 1
        if record.callback is not None:
            raise HTTPError(
                400,
                "Interaction has already been acknowledged.",
                40060,
                f"second initial response to interaction {record.id}",
            )
        if elapsed > self.deadline:
            raise HTTPError(
                404,
                "Unknown interaction",
                10062,
                f"initial response {elapsed:.2f}s after dispatch (limit {self.deadline}s)",
            )
        body = req.body or {}
        cb_type = body.get("type")
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(record.type, set())
        if cb_type not in allowed:
            raise HTTPError(
                400,
                "Invalid Form Body",
                50035,
                f"callback type {cb_type} is not valid for interaction type {record.type}",
            )
        record.callback = body
        channel_id = record.channel_id or 0
        resource: dict[str, Any] = {"type": cb_type}
        if cb_type == 4:
            flags = int(data.get("flags") or 0) | forced_ephemeral(record)
            record.original = self.world.message_json(
                channel_id,
                data,
                req.files,
                message_type=20 if record.type == 2 else 19,
                interaction=record,
                flags=flags,
            )
            resource["message"] = record.original
        elif cb_type == 5:
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | LOADING | forced_ephemeral(record)
            record.original = self.world.message_json(
                channel_id, {}, [], message_type=20 if record.type == 2 else 19, interaction=record, flags=flags
            )
            resource["message"] = record.original
        elif cb_type in (6, 7):
            source = record.payload.get("message")
            record.original = self.world.messages_by_id.get(int(source["id"])) if source else None
            if record.original is None and source is not None:
                record.original = source
            if cb_type == 7 and record.original is not None:
                self.world.apply_edit(record.original, data, req.files)
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

    async def _post_followup(self, req: ApiRequest) -> Any:
        record = self._interaction_for_webhook(req)
        if only_user_installed(record) and len(record.followups) >= USER_INSTALL_FOLLOWUPS:
            raise HTTPError(
                400,
                "Maximum number of follow-up messages reached",
                0,  # Discord documents the limit, not its error code
                f"follow-up {len(record.followups) + 1} to interaction {record.id} of a user-installed app (limit 5)",
            )
        body = req.body or {}
        flags = (int(body.get("flags") or 0) & (EPHEMERAL | MESSAGE_CREATE_FLAGS)) | forced_ephemeral(record)
        msg = self.world.message_json(
            record.channel_id or 0, body, req.files, message_type=0, interaction=record, flags=flags
        )
        record.followups.append(msg)
        if req.query.get("wait") in ("1", "true", "True"):
            return msg
        return None

    def _webhook_message(self, req: ApiRequest) -> tuple[InteractionRecord, dict[str, Any]]:
        record = self._interaction_for_webhook(req)
        mid = req.params["message_id"]
        if mid == "@original":
            if record.original is None or record.deleted_original:
                raise HTTPError(404, "Unknown Message", 10008, "no original response message to act on")
            return record, record.original
        for msg in [*record.followups, *([record.original] if record.original else [])]:
            if msg["id"] == mid:
                return record, msg
        raise HTTPError(404, "Unknown Message", 10008, f"message {mid} is not part of interaction {record.id}")

    async def _get_webhook_message(self, req: ApiRequest) -> Any:
        return self._webhook_message(req)[1]

    async def _patch_webhook_message(self, req: ApiRequest) -> Any:
        record, msg = self._webhook_message(req)
        self.world.apply_edit(msg, req.body or {}, req.files)
        if msg is record.original:
            msg["flags"] = msg.get("flags", 0) & ~LOADING
            record.original_edits += 1
        return msg

    async def _delete_webhook_message(self, req: ApiRequest) -> Any:
        record, msg = self._webhook_message(req)
        if msg is record.original:
            record.deleted_original = True
        else:
            record.followups.remove(msg)
        self.world.messages_by_id.pop(int(msg["id"]), None)
        return None
