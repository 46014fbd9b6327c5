"""A real HTTP server on 127.0.0.1 serving blogs as web servers do: files, validators, redirects, failures.

It runs aiohttp in a thread of its own, so a `kiji` subprocess and the test's own event loop can
both reach it. Every reply carries an ETag (a hash of its body) and a Last-Modified, and answers
304 to a request that names them; gzip is sent to clients that accept it, each reply's compressed
once and kept, as static hosts keep precompressed or cached bodies (compressing each page anew at
every request was a third of this server's CPU in `bench.web_backfill`, on the cores Kiji shares).
Every request is logged (path, status, the validators it carried), so a test can say exactly what
Kiji asked for.

Built sites are served with their built-in address (`http://blog.test`) replaced by the server's.
Nothing here knows Kiji.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web

BUILT_ADDRESS = "http://blog.test"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "web"


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow server; the server's own wait)
    last_modified: float = 1_700_000_000.0
    validators: bool = True

    @cached_property
    def etag(self) -> str:
        return '"' + hashlib.blake2b(self.body, digest_size=8).hexdigest() + '"'

    @cached_property
    def gzipped(self) -> bytes:
        return gzip.compress(self.body, compresslevel=6, mtime=0)


@dataclass(frozen=True)
class Logged:
    path: str
    status: int
    if_none_match: str | None
    if_modified_since: str | None
    user_agent: str | None


class Held:
    """Requests of one path held before they are answered, until `release` (a slow page, on demand).

    The server runs in a thread of its own, so these are threading events; a test's event loop waits
    for `arrived` with `asyncio.to_thread`.
    """

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()


class WebServer:
    """Paths → replies; `put`, `redirect` and `serve_site` change what it serves while it runs."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.log: list[Logged] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._held: dict[str, Held] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def put(
        self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8", **extra: object
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            self.replies[path] = Reply(data, content_type=content_type, **extra)  # type: ignore[arg-type]

    def fail(self, path: str, status: int, **extra: object) -> None:
        with self._lock:
            self.replies[path] = Reply(f"status {status}".encode(), status=status, content_type="text/plain", **extra)  # type: ignore[arg-type]

    def hold(self, path: str) -> Held:
        """Hold every request of `path` until the returned `Held` is released."""
        held = Held()
        with self._lock:
            self._held[path] = held
        return held

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        target = to if "://" in to else self.url(to)
        with self._lock:
            self.replies[path] = Reply(b"", status=status, headers={"Location": target}, validators=False)

    def serve_site(self, folder: Path, prefix: str = "") -> list[str]:
        """Serve a built site's files with its address replaced by ours; returns the paths served."""
        served = []
        for file in sorted(folder.rglob("*")):
            if not file.is_file():
                continue
            rel = file.relative_to(folder).as_posix()
            body = file.read_bytes().replace(BUILT_ADDRESS.encode(), (self.base + prefix).encode())
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("xml"):
                kind += "; charset=utf-8"
            path = prefix + "/" + quote(rel)
            if rel.endswith("index.html"):
                path = path[: -len("index.html")]
            self.put(path, body, kind)
            served.append(path)
        return served

    def requests(self, path: str | None = None) -> list[Logged]:
        with self._lock:
            return [entry for entry in self.log if path is None or entry.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        with self._lock:
            reply = self.replies.get(path)
            held = self._held.get(path)
        if held is not None:
            held.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, held.released.wait)
        if reply is not None and reply.delay:
            await asyncio.sleep(reply.delay)
        status, response = self._respond(request, reply)
        with self._lock:
            self.log.append(
                Logged(
                    path,
                    status,
                    request.headers.get("If-None-Match"),
                    request.headers.get("If-Modified-Since"),
                    request.headers.get("User-Agent"),
                )
            )
        return response

    @staticmethod
    def _respond(request: web.Request, reply: Reply | None) -> tuple[int, web.StreamResponse]:
        if reply is None:
            return 404, web.Response(status=404, text="not found")
        headers = dict(reply.headers)
        if reply.validators and reply.status == 200:
            etag = reply.etag
            modified = formatdate(reply.last_modified, usegmt=True)
            headers.update({"ETag": etag, "Last-Modified": modified})
            if request.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in request.headers and request.headers.get("If-Modified-Since") == modified
            ):
                return 304, web.Response(status=304, headers=headers)
        body = reply.body
        if reply.status == 200 and "gzip" in request.headers.get("Accept-Encoding", "").lower():
            body = reply.gzipped
            headers["Content-Encoding"] = "gzip"
        response = web.Response(status=reply.status, body=body, headers=headers)
        response.headers["Content-Type"] = reply.content_type
        return reply.status, response

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="web-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the test web server did not start")

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


@pytest.fixture
def web_server() -> Iterator[WebServer]:
    server = WebServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
