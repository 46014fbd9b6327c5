"""The emulated REST API: routing, authentication, validation, failure injection and rate limits.

Every request is recorded (:class:`RecordedRequest`, with the problems validation found), checked against
Discord's OpenAPI spec when one is loaded (else against the limits the spec does not state), then answered by
the handlers of :mod:`.routes` and :mod:`.interaction_routes`, which register themselves here.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .records import HTTPError, Monitor, RecordedRequest, json_response
from .validation import API_PREFIX, SpecValidator, check_request_limits


@dataclass
class ApiRequest:
    """One REST request as a handler sees it: path parameters, query, parsed body and uploaded files."""

    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any
    files: list[tuple[str, str, int]]  # field name, filename, size
    headers: Mapping[str, str]


Handler = Callable[[ApiRequest], Awaitable[Any]]
# Whether a route takes a request its pattern matched (two kinds of webhook share one path shape).
RouteGuard = Callable[[dict[str, str]], bool]


@dataclass
class HeldResponse:
    """A response kept back after its handler ran: Discord did the work, the caller has not heard yet.

    What a crash between "Discord accepted it" and "the bot recorded it" looks like from outside:
    a test waits for `reached`, kills the bot, then sets `release`.
    """

    method: str
    path_regex: re.Pattern[str]
    reached: asyncio.Event
    release: asyncio.Event
    used: bool = False


@dataclass
class _FailureRule:
    method: str
    path_regex: re.Pattern[str]
    status: int
    remaining: int
    retry_after: float | None
    is_global: bool
    body: dict[str, Any] | None


def error_response(status: int, message: str, code: int = 0, extra: dict[str, Any] | None = None) -> web.Response:
    return json_response({"message": message, "code": code, **(extra or {})}, status=status)


class RestApi:
    """``/api/v10``: one aiohttp handler in front of a table of (method, path pattern, handler)."""

    def __init__(self, monitor: Monitor, token: str, validator: SpecValidator | None) -> None:
        self.monitor = monitor
        self.token = token
        self.validator = validator
        self.requests: list[RecordedRequest] = []
        #: Called with each recorded request once it is answered (the demo page shows refusals from here).
        self.observers: list[Callable[[RecordedRequest], None]] = []
        self._failures: list[_FailureRule] = []
        #: Requests per second allowed before answering 429 (global); None = unlimited.
        self.global_rate_limit: int | None = None
        self.rate_limited_count = 0
        self._request_times: deque[float] = deque()
        self._routes: list[tuple[str, re.Pattern[str], Handler, RouteGuard | None]] = []
        self._holds: list[HeldResponse] = []

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

    def hold_next(self, method: str, path_regex: str) -> HeldResponse:
        """Keep back the response to the next request matching ``method`` and ``path_regex`` (see HeldResponse)."""
        hold = HeldResponse(method.upper(), re.compile(path_regex), asyncio.Event(), asyncio.Event())
        self._holds.append(hold)
        return hold

    async def _hold_if_asked(self, method: str, path: str) -> None:
        for hold in self._holds:
            if not hold.used and hold.method == method and hold.path_regex.search(path):
                hold.used = True
                hold.reached.set()
                await self.monitor.changed()
                await hold.release.wait()
                return

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
        return json_response(body, status=429, headers=headers)

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
        return json_response(body, status=rule.status, headers={"Via": "1.1 google"})

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

    def route(self, method: str, pattern: str, handler: Handler, when: RouteGuard | None = None) -> None:
        """Serve ``method pattern`` with ``handler``; with ``when``, only requests whose path parameters it accepts."""
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self._routes.append((method, regex, handler, when))

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
        raise HTTPError(400, f"unsupported content type {ctype}", 50109, f"body sent as {ctype}")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        if not path.startswith(API_PREFIX + "/"):
            self.monitor.violation("unknown route", "not under /api/v10", method, path)
            return error_response(404, "404: Not Found")
        rel = path[len(API_PREFIX) :]
        record = RecordedRequest(method, rel, dict(request.query), None, arrived_at=asyncio.get_running_loop().time())
        self.requests.append(record)
        try:
            response = await self._serve(request, method, rel, record)
        except HTTPError as exc:
            if exc.violation:
                self.monitor.violation(exc.message, exc.violation, method, rel)
            response = error_response(exc.status, exc.message, exc.code)
        record.status = response.status
        for observe in self.observers:
            observe(record)
        await self.monitor.changed()
        return response

    async def _serve(self, request: web.Request, method: str, rel: str, record: RecordedRequest) -> web.Response:
        try:
            body, files, ctype = await self._read_body(request)
        except json.JSONDecodeError as exc:
            raise HTTPError(400, "400: Bad Request", 50109, f"invalid JSON body: {exc}") from None
        record.body = body

        is_interaction = rel.startswith(("/interactions/", "/webhooks/"))
        auth = request.headers.get("Authorization")
        if (auth is not None or not is_interaction) and auth != f"Bot {self.token}":
            raise HTTPError(401, "401: Unauthorized", 0, f"bad Authorization header {auth!r}")

        handler, params = None, {}
        for route_method, regex, candidate, when in self._routes:
            m = regex.match(rel)
            if m and route_method == method and (when is None or when(m.groupdict())):
                handler, params = candidate, m.groupdict()
                break
        if handler is None:
            self.monitor.violation(
                "unknown route", "the emulator (and maybe Discord) has no such endpoint", method, rel
            )
            return error_response(404, "404: Not Found", 0)

        problems: list[str] = []
        if body is not None:
            if self.validator is not None:
                problems = self.validator.validate(method, rel, body, ctype)
            else:
                problems = check_request_limits(method, rel, body)
        record.problems = problems
        for p in problems:
            self.monitor.violation("invalid body", p, method, rel)

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
            return error_response(400, "Invalid Form Body", 50035, {"errors": {"_errors": problems}})

        result = await handler(ApiRequest(method, rel, params, request.query, body, files, request.headers))
        await self._hold_if_asked(method, rel)
        if isinstance(result, web.Response):
            return result
        if result is None:
            return web.Response(status=204, headers={"Via": "1.1 google"})
        return json_response(result, headers={"Via": "1.1 google"})
