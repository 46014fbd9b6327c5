"""The demo's web page: a Discord-like channel view in plain HTML + JS, served by aiohttp on 127.0.0.1.

The page keeps no state of its own: it asks ``/api/view`` for the channels as they are (long-polling on the
emulator's change counter, so a new announcement shows within a moment of being sent) and posts what the
user types to ``/api/command``, ``/api/autocomplete`` and ``/api/click``. ``/site/...`` shows the stored
text of a post, so the "Read" buttons work without the network when the source has no site URL.

The page is for this machine's browser only, and a browser runs every page it opens: one on another
127.0.0.1 port may send the demo a "simple" cross-origin POST (text/plain, no preflight), and one on an
attacker's domain that re-resolves to 127.0.0.1 (DNS rebinding) may even read the answers. So every request
must name the demo's own address in ``Host``; an ``Origin``, when sent, must be the page's own; and a POST
must be JSON (which a foreign page cannot send without the preflight this server never grants) carrying the
token that only the page's own HTML holds, made anew for each run.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from bot.demo.session import DemoError, DemoSession

log = logging.getLogger(__name__)

LONG_POLL_S = 25.0
STATIC = resources.files("bot.demo") / "static"
_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

SESSION_KEY = web.AppKey("session", DemoSession)
TOKEN_KEY = web.AppKey("token", str)
#: The header the page sends its per-run token in (a custom header: no foreign page may add it without a preflight).
TOKEN_HEADER = "X-Kiji-Demo-Token"
_TOKEN_META = '<meta name="kiji-demo-token" content="{token}">'
_LOCAL_NAMES = ("localhost",)


def demo_app(session: DemoSession, token: str | None = None) -> web.Application:
    """The page and its API; ``token`` (default: a new random one) is the one the page's POSTs must carry."""
    app = web.Application(middlewares=[_this_machines_page_only])
    app[SESSION_KEY] = session
    app[TOKEN_KEY] = token or secrets.token_urlsafe(32)
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/setup", _setup)
    app.router.add_get("/api/view", _view)
    app.router.add_post("/api/command", _command)
    app.router.add_post("/api/autocomplete", _autocomplete)
    app.router.add_post("/api/click", _click)
    app.router.add_post("/api/preview", _preview)
    app.router.add_post("/api/next-digest", _next_digest)
    app.router.add_get("/site/{tail:.*}", _site_page)
    app.router.add_get("/favicon.ico", _no_icon)
    return app


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _refuse(status: int, why: str) -> web.Response:
    log.warning("refused %s", why)
    return _json({"error": why}, status)


def own_hosts(address: str, port: int) -> set[str]:
    """The ``Host`` values that name a server bound here: its address or localhost, with its port.

    A browser leaves out port 80, the default of http://.
    """
    names = (f"[{address}]" if ":" in address else address, *_LOCAL_NAMES)
    return {f"{name}:{port}" for name in names} | (set(names) if port == 80 else set())


def _own_hosts(request: web.Request) -> set[str]:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return own_hosts(sockname[0], sockname[1]) if sockname else set()


@web.middleware
async def _this_machines_page_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    host = request.headers.get("Host", "")
    if host.lower() not in _own_hosts(request):
        return _refuse(403, f"this demo answers only to its own address, not to Host {host!r}")
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() != f"http://{host.lower()}":
        return _refuse(403, f"this demo answers only to its own page, not to one from {origin!r}")
    if request.method == "POST":
        if request.content_type != "application/json":
            return _refuse(415, f"the demo takes application/json, not {request.content_type!r}")
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), request.app[TOKEN_KEY].encode()):
            return _refuse(403, f"the request has not the token of this run's page ({TOKEN_HEADER})")
    return await handler(request)


async def _index(request: web.Request) -> web.StreamResponse:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    meta = _TOKEN_META.format(token=html.escape(request.app[TOKEN_KEY]))
    return web.Response(text=page.replace("<!-- kiji-demo-token -->", meta, 1), content_type="text/html")


async def _no_icon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    suffix = name[name.rfind(".") :] if "." in name else ""
    resource = STATIC / name
    if "/" in name or suffix not in _STATIC_TYPES or not resource.is_file():
        raise web.HTTPNotFound(text=f"no file {name!r}")
    return web.Response(text=resource.read_text(encoding="utf-8"), content_type=_STATIC_TYPES[suffix])


async def _setup(request: web.Request) -> web.StreamResponse:
    return _json(request.app[SESSION_KEY].setup())


async def _view(request: web.Request) -> web.StreamResponse:
    """The channels now, or as soon as anything changes after version ``after`` (at most LONG_POLL_S)."""
    session = request.app[SESSION_KEY]
    try:
        after = int(request.query.get("after", "-1"))
    except ValueError:
        return _json({"error": "after must be a number"}, 400)
    monitor = session.emulator.monitor
    with contextlib.suppress(TimeoutError):  # nothing new: the page asks again
        await monitor.wait_for(lambda: monitor.version > after, LONG_POLL_S, "a change")
    return _json(session.view())


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DemoError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise DemoError("the request body is not a JSON object")
    return body


def _ids(body: dict[str, Any]) -> tuple[int | None, int | None]:
    try:
        user = int(body["user_id"]) if body.get("user_id") else None
        channel = int(body["channel_id"]) if body.get("channel_id") else None
    except (TypeError, ValueError):
        raise DemoError("user_id and channel_id are ids (numbers)") from None
    return user, channel


async def _command(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION_KEY]
    try:
        body = await _body(request)
        user, channel = _ids(body)
        handle = await session.send_command(
            str(body.get("name", "")),
            dict(body.get("options") or {}),
            locale=str(body.get("locale", "ja")),
            user_id=user,
            channel_id=channel,
        )
    except DemoError as exc:
        return _json({"error": str(exc)}, 400)
    return _json({"interaction": str(handle.id)})


async def _autocomplete(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION_KEY]
    try:
        body = await _body(request)
        user, channel = _ids(body)
        choices = await session.autocomplete(
            str(body.get("name", "")),
            str(body.get("focused", "")),
            dict(body.get("options") or {}),
            locale=str(body.get("locale", "ja")),
            user_id=user,
            channel_id=channel,
        )
    except DemoError as exc:
        return _json({"error": str(exc), "choices": []}, 400)
    return _json({"choices": choices})


async def _click(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION_KEY]
    try:
        body = await _body(request)
        user, _ = _ids(body)
        try:
            message_id = int(body.get("message_id", ""))
        except (TypeError, ValueError):
            raise DemoError("message_id is an id (a number)") from None
        handle = await session.click(
            message_id, str(body.get("custom_id", "")), locale=str(body.get("locale", "ja")), user_id=user
        )
    except DemoError as exc:
        return _json({"error": str(exc)}, 400)
    return _json({"interaction": str(handle.id)})


async def _preview(request: web.Request) -> web.StreamResponse:
    """A post in each layout (embed, card, text) with the typed template, as Kiji would send it."""
    session = request.app[SESSION_KEY]
    try:
        body = await _body(request)
        template = body.get("template")
        if template is not None and not isinstance(template, str):
            raise DemoError("template is text")
        answer = await session.preview(body.get("post"), template, locale=str(body.get("locale", "ja")))
    except DemoError as exc:
        return _json({"error": str(exc)}, 400)
    return _json(answer)


async def _next_digest(request: web.Request) -> web.StreamResponse:
    """Move the demo's clock on to the next digest hour (a POST: it changes what the bot does)."""
    session = request.app[SESSION_KEY]
    try:
        await _body(request)
        answer = await session.next_digest()
    except DemoError as exc:
        return _json({"error": str(exc)}, 400)
    return _json(answer)


async def _site_page(request: web.Request) -> web.StreamResponse:
    """A stand-in for the blog: the post at this URL with its stored text."""
    session = request.app[SESSION_KEY]
    if session.bot is None:
        raise web.HTTPServiceUnavailable(text="the demo is starting")
    store = session.bot.store
    wanted = "/" + request.match_info["tail"]
    for post in await store.all_posts():
        if post.abs_url.endswith(wanted) or post.url == wanted:
            text = await store.get_text(post.id) or ""
            paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
            page = (
                f"<!doctype html><meta charset=utf-8><title>{html.escape(post.title)}</title>"
                f"<body style='max-width:42rem;margin:2rem auto;font-family:sans-serif;line-height:1.6'>"
                f"<p><a href='/'>← Kiji demo</a></p><h1>{html.escape(post.title)}</h1>"
                f"<p><small>{html.escape(post.date_iso[:10])}</small></p>{paragraphs}"
            )
            return web.Response(text=page, content_type="text/html")
    raise web.HTTPNotFound(text=f"no post at {wanted}")
