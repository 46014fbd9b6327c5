"""Push webhooks: GitHub, GitLab and Gitea/Forgejo tell Kiji a repository changed, so it fetches now.

Without them a pushed post waits for the next poll. The endpoint is optional and off unless
`KIJI_WEBHOOK_SECRET` is set: an unauthenticated "fetch now" would let anyone make the bot hammer
a git server. It listens on `KIJI_WEBHOOK_HOST` (127.0.0.1 by default, for a reverse proxy in
front) and `KIJI_WEBHOOK_PORT`, on any path.

Each host proves a delivery its own way, and each is checked with `hmac.compare_digest`:
- GitHub (and Gitea, which sends it too): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`;
- Gitea / Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature`: the same HMAC, hex, no prefix;
- GitLab: `X-Gitlab-Token`, the secret itself.
Missing or wrong: 401, and nothing is fetched. A body over `MAX_BODY_BYTES` is refused with 413
as soon as that is known (from Content-Length, or while reading), never read whole. A GitHub
ping is answered 200. A push names its repository by several URLs (https, ssh, web); the
repository matches a configured source when one of them has the same `repository_key`, and then
`trigger(source_name)` runs: it should only ask for a poll (set an event), not do it.

Nothing here imports Discord: the sync service (`bot.services.sync`) wires `trigger` to "poll this source now".
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from bot.clock import SYSTEM_CLOCK, Clock
from bot.services.bounded_http import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_LOG_INTERVAL,
    BodyTimeout,
    BoundedServer,
)
from bot.sources.abilities import FollowsPushes
from bot.sources.specs import repository_key

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
DEFAULT_HOST = "127.0.0.1"
_PUSH_EVENTS = {"push", "push hook", "tag push hook", "tag_push"}
_PING_EVENTS = {"ping"}

Trigger = Callable[[str], Awaitable[None] | None]


class WebhookConfigError(ValueError):
    """The webhook settings cannot be used; the message names the variable (never the secret)."""


@dataclass(frozen=True)
class WebhookConfig:
    host: str
    port: int
    secret: str = field(repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WebhookConfig | None:
        """The webhook's settings, or None when it is off (no `KIJI_WEBHOOK_SECRET`)."""
        secret = environ.get("KIJI_WEBHOOK_SECRET", "")
        port_text = environ.get("KIJI_WEBHOOK_PORT", "").strip()
        host = environ.get("KIJI_WEBHOOK_HOST", "").strip() or DEFAULT_HOST
        if not secret:
            if port_text:
                log.warning("KIJI_WEBHOOK_PORT is set but KIJI_WEBHOOK_SECRET is not: the push webhook is off")
            return None
        if not port_text:
            raise WebhookConfigError(
                "KIJI_WEBHOOK_SECRET is set but KIJI_WEBHOOK_PORT is not; give the port to listen on"
            )
        try:
            port = int(port_text)
        except ValueError:
            raise WebhookConfigError(f"KIJI_WEBHOOK_PORT must be a port number, not {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise WebhookConfigError(f"KIJI_WEBHOOK_PORT must be between 0 and 65535, not {port}")
        return cls(host=host, port=port, secret=secret)


def _hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes | None) -> bool | None:
    """True when the delivery is signed with `secret`, False when wrongly, None when it carries no proof.

    `body` may be None to ask only whether a proof is present (before reading the body).
    """
    gitea = headers.get("X-Gitea-Signature") or headers.get("X-Forgejo-Signature")
    github = headers.get("X-Hub-Signature-256")
    gitlab = headers.get("X-Gitlab-Token")
    if gitea is None and github is None and gitlab is None:
        return None
    if body is None:
        return True
    if gitea is not None:
        return hmac.compare_digest(gitea.strip().lower().encode(), _hex_hmac(secret, body).encode())
    if github is not None:
        return hmac.compare_digest(github.strip().lower().encode(), ("sha256=" + _hex_hmac(secret, body)).encode())
    return hmac.compare_digest(gitlab.encode(), secret.encode())  # type: ignore[union-attr]


def _event(headers: Mapping[str, str]) -> str:
    for name in ("X-GitHub-Event", "X-Gitea-Event", "X-Forgejo-Event", "X-Gitlab-Event", "X-Gogs-Event"):
        if value := headers.get(name):
            return value.strip().lower()
    return ""


def payload_repository_keys(payload: Any) -> set[str]:
    """Every way the payload names its repository, as `repository_key`s (GitHub, GitLab, Gitea shapes)."""
    keys: set[str] = set()
    if not isinstance(payload, dict):
        return keys
    for section in ("repository", "project"):
        described = payload.get(section)
        if not isinstance(described, dict):
            continue
        for name, value in described.items():
            if isinstance(value, str) and (name.endswith("url") or name == "homepage") and value:
                keys.add(repository_key(value))
    return keys


class PushWebhook:
    """The HTTP server receiving push deliveries; `start()` binds it, `stop()` closes it.

    Slow and idle clients are bounded by `BoundedServer` (see bot/services/bounded_http.py): each
    gets `header_timeout` seconds for its headers and `body_timeout` for its body, at most
    `max_connections` are held, and repeated failures are logged once per `log_interval`.
    """

    def __init__(
        self,
        config: WebhookConfig,
        sources: Iterable[object],
        trigger: Trigger,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        max_connections: int | None = None,
        log_interval: float = DEFAULT_LOG_INTERVAL,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._config = config
        self._trigger = trigger
        self._max_body = max_body_bytes
        self._by_key: dict[str, list[str]] = {}
        for source in sources:  # only those that follow a repository can be pushed to
            if isinstance(source, FollowsPushes) and source.repository_key:
                self._by_key.setdefault(source.repository_key, []).append(source.name)
        self.server = BoundedServer(  # its connections, their stages, its limits
            self._handle,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            max_connections=max_connections,
            log_interval=log_interval,
            clock=clock,
            logger=log,
        )
        self._log = self.server.log
        self._started = False
        self.triggered: deque[str] = deque(maxlen=100)  # the latest source names it asked to poll, for /about

    @property
    def port(self) -> int:
        """The port actually bound (KIJI_WEBHOOK_PORT=0 picks a free one)."""
        assert self._started, "start() first"
        return self.server.port

    async def start(self) -> None:
        await self.server.start(self._config.host, self._config.port)
        self._started = True
        log.info("push webhook listening on %s:%d", self._config.host, self.port)

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.server.stop()

    async def _read_limited(self, request: web.BaseRequest) -> bytes | None:
        """The body, or None as soon as it is known to be over the limit."""
        if request.content_length is not None and request.content_length > self._max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(64 * 1024):
            size += len(chunk)
            if size > self._max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(self, request: web.BaseRequest) -> web.Response:
        if request.method != "POST":
            return web.json_response({"error": "only POST is answered here"}, status=405, headers={"Allow": "POST"})
        headers = request.headers
        if verify_signature(self._config.secret, headers, None) is None:
            self._log.note(
                "deliveries without a signature or token",
                "push webhook: a delivery without a signature or token from %s, refused",
                request.remote,
            )
            return web.json_response({"error": "missing signature"}, status=401)
        try:
            body = await self.server.read_body(self._read_limited(request))
        except BodyTimeout:
            self._log.note(
                "bodies not received in time",
                "push webhook: a delivery from %s did not send its body within %.0f s, refused",
                request.remote,
                self.server.body_timeout,
            )
            return web.json_response({"error": "the body did not arrive in time"}, status=408)
        except (ConnectionError, web.RequestPayloadError) as error:
            self._log.note(
                "clients that disconnected mid-body",
                "push webhook: a client at %s disconnected before sending its whole body (%s)",
                request.remote,
                error,
            )
            return web.json_response({"error": "the body ended early"}, status=400)
        if body is None:
            self._log.note(
                "deliveries over the size limit",
                "push webhook: a delivery over %d bytes from %s, refused",
                self._max_body,
                request.remote,
            )
            return web.json_response({"error": f"body over {self._max_body} bytes"}, status=413)
        if not verify_signature(self._config.secret, headers, body):
            self._log.note(
                "deliveries with a wrong signature or token",
                "push webhook: a delivery with a wrong signature or token from %s, refused",
                request.remote,
            )
            return web.json_response({"error": "bad signature"}, status=401)
        event = _event(headers)
        if event in _PING_EVENTS:
            return web.json_response({"ok": "pong"})
        if event and event not in _PUSH_EVENTS:
            return web.json_response({"ignored": f"event {event!r} is not a push"})
        try:
            payload = _parse_payload(body, headers.get("Content-Type", ""))
        except RecursionError:
            log.warning("push webhook: a signed delivery from %s is JSON nested too deeply, refused", request.remote)
            too_deep = f"the JSON body is nested too deeply (over about {sys.getrecursionlimit()} levels)"
            return web.json_response({"error": too_deep}, status=400)
        if payload is None:
            return web.json_response({"error": "the body is not a JSON push payload"}, status=400)
        names = sorted({name for key in payload_repository_keys(payload) for name in self._by_key.get(key, ())})
        if not names:
            return web.json_response({"ignored": "no configured source follows this repository"})
        for name in names:
            log.info("push webhook: %s event for %s", event or "push", name)
            self.triggered.append(name)
            outcome = self._trigger(name)
            if inspect.isawaitable(outcome):
                await outcome
        return web.json_response({"triggered": names}, status=202)


def _parse_payload(body: bytes, content_type: str) -> Any:
    """JSON, or GitHub's form encoding (`payload=<json>`); None when it is neither.

    JSON nested deeper than Python's recursion limit raises RecursionError, answered with 400.
    """
    try:
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            values = parse_qs(body.decode("utf-8"), strict_parsing=False).get("payload")
            return json.loads(values[0]) if values else None
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
