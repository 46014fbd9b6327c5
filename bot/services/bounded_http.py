"""An HTTP server that slow, silent or endless clients cannot fill, for the push webhook.

aiohttp's own site accepts every connection and waits for its headers as long as its keep-alive
timer allows (3,630 s by default; older versions arm no timer before the first request at all).
A few hundred clients that send half a header, or a body that never ends, then held the bot's
file descriptors: valid pushes timed out, `/about` failed with "Too many open files", and
asyncio logged `socket.accept() out of system resource` for every failed accept.

So this server accepts connections itself, one at a time, and
- gives each connection `header_timeout` seconds to send its request's headers and the handler
  `body_timeout` seconds (through `read_body`) to receive the body, then closes it;
- holds at most `max_connections` (a quarter of the process's file limit at most): a newcomer at
  the bound closes the oldest connection still sending headers (or else still sending a body),
  so a valid push is still answered while the bound is full of slow clients;
- when accept fails for want of descriptors, closes the oldest slow connection, or waits a moment;
- logs each kind of repeated failure once per `log_interval`, then how many more there were.
One request per connection (the answer closes it): push deliveries come one per connection.

Timers run on the injected `Clock`, so a test moves time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from bot.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT = 5.0
DEFAULT_BODY_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_LOG_INTERVAL = 60.0
ACCEPT_RETRY_DELAY = 1.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

T = TypeVar("T")
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class BodyTimeout(Exception):
    """The client did not send its whole body within the body timeout."""


def default_max_connections() -> int:
    """`DEFAULT_MAX_CONNECTIONS`, or a quarter of the open-file limit when that is lower.

    The rest of the bot (SQLite, git, Discord's connection, `/about`) needs descriptors too.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return DEFAULT_MAX_CONNECTIONS
    return max(1, min(DEFAULT_MAX_CONNECTIONS, soft // 4))


@dataclass
class _Repeated:
    last_line_at: float
    suppressed: int = 0


class RateLimitedLog:
    """One warning per `interval` for each kind of repeated failure, then the count of the others.

    A flood of slow clients or failed accepts must not flood the log too: the first line of a
    kind is written at once, later ones within the interval are only counted, and `flush` (every
    interval, and at stop) writes "N more ..." for the counted ones.
    """

    def __init__(self, logger: logging.Logger, interval: float, clock: Clock) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._kinds: dict[str, _Repeated] = {}

    def note(self, kind: str, message: str, *args: object) -> None:
        now = self._clock.monotonic()
        repeated = self._kinds.get(kind)
        if repeated is not None and now - repeated.last_line_at < self._interval:
            repeated.suppressed += 1
            return
        if repeated is not None and repeated.suppressed:
            self._write_suppressed(kind, repeated)
        self._kinds[kind] = _Repeated(now)
        self._logger.warning(message, *args)

    def flush(self) -> None:
        """Write how many lines of each kind were left out since that kind's last line."""
        for kind, repeated in self._kinds.items():
            if repeated.suppressed:
                self._write_suppressed(kind, repeated)
                repeated.suppressed = 0

    def _write_suppressed(self, kind: str, repeated: _Repeated) -> None:
        self._logger.warning("push webhook: %d more %s in the last %.0f s", repeated.suppressed, kind, self._interval)


WAITING, READING, ANSWERING = "waiting for headers", "reading the body", "answering"


class _Connection(asyncio.Protocol):
    """One client: aiohttp's request handler inside, this server's deadline and bookkeeping around it."""

    def __init__(self, server: BoundedServer, inner: asyncio.Protocol) -> None:
        self._server = server
        self._inner = inner
        self.state = WAITING
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._deadline: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._server._opened(self)
        self._inner.connection_made(transport)
        self.arm(self._server.header_timeout)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        self._server._closed(self)
        try:
            self._inner.connection_lost(exc)
        finally:
            if not self.closed.done():
                self.closed.set_result(None)

    def arm(self, seconds: float) -> None:
        """Close the connection unless it moves to its next stage within `seconds`."""
        self.disarm()
        self._deadline = asyncio.ensure_future(self._expire_after(seconds))

    def disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def _expire_after(self, seconds: float) -> None:
        await self._server.clock.sleep(seconds)
        self._deadline = None
        self._server.log.note(
            f"connections closed while {self.state}",
            "push webhook: closed a connection still %s after %.0f s",
            self.state,
            seconds,
        )
        self.abort()


class BoundedServer:
    """Serves `handler` on host:port with the limits in the module docstring; `start`, then `stop`."""

    def __init__(
        self,
        handler: Handler,
        *,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        max_connections: int | None = None,
        log_interval: float = DEFAULT_LOG_INTERVAL,
        clock: Clock = SYSTEM_CLOCK,
        logger: logging.Logger = log,
    ) -> None:
        self._handler = handler
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections if max_connections is not None else default_max_connections()
        self.clock = clock
        self.log = RateLimitedLog(logger, log_interval, clock)  # the server's lines and its handler's
        self._log_interval = log_interval
        self._connections: dict[_Connection, None] = {}  # insertion order: oldest first
        self._by_transport: dict[asyncio.BaseTransport, _Connection] = {}
        self._slot_freed = asyncio.Event()
        self._changed = asyncio.Event()  # replaced, after being set, at every change of `stages()`
        self._socket: socket.socket | None = None
        self._web_server: web.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def port(self) -> int:
        assert self._socket is not None, "start() first"
        return int(self._socket.getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self, host: str, port: int) -> None:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listener = socket.create_server(address[:2], family=family, backlog=128)
        listener.setblocking(False)
        self._socket = listener
        self._web_server = web.Server(
            self._handle,
            handler_cancellation=False,
            access_log=None,
            keepalive_timeout=self.header_timeout,
            lingering_time=min(2.0, self.body_timeout),
        )
        self._tasks = [
            asyncio.ensure_future(self._accept_until_stopped()),
            asyncio.ensure_future(self._flush_log_forever()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        for connection in list(self._connections):
            connection.disarm()
            if connection.state != ANSWERING:  # still sending a request: it will not be answered now
                connection.abort()
        if self._web_server is not None:
            await self._web_server.shutdown(timeout=self.header_timeout)
            self._web_server = None
        for connection in list(self._connections):
            connection.abort()
        self.log.flush()

    async def read_body(self, awaitable: Awaitable[T]) -> T:
        """`awaitable` (the handler's body read), or `BodyTimeout` when it takes over `body_timeout`."""
        reading = asyncio.ensure_future(awaitable)
        timer = asyncio.ensure_future(self.clock.sleep(self.body_timeout))
        try:
            await asyncio.wait({reading, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (timer, reading):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if reading.cancelled():
            raise BodyTimeout
        return reading.result()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        connection = self._by_transport.get(request.transport) if request.transport is not None else None
        if connection is not None:
            connection.disarm()
            connection.state = READING
            self._touch()
        try:
            response = await self._handler(request)
        finally:
            if connection is not None:  # a short answer, then aiohttp lingers at most `lingering_time`
                connection.state = ANSWERING
                self._touch()
        response.force_close()
        return response

    def stages(self) -> Counter[str]:
        """How many open connections wait for headers, read a body, or answer."""
        return Counter(connection.state for connection in self._connections)

    async def wait_for_stages(self, predicate: Callable[[Counter[str]], bool], timeout_s: float = 10.0) -> None:
        """Return once `predicate(self.stages())` holds (a real-time bound: a failing test ends)."""
        async with asyncio.timeout(timeout_s):
            while not predicate(self.stages()):
                await self._changed.wait()

    def _touch(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _opened(self, connection: _Connection) -> None:
        self._connections[connection] = None
        assert connection.transport is not None
        self._by_transport[connection.transport] = connection
        self._touch()

    def _closed(self, connection: _Connection) -> None:
        self._connections.pop(connection, None)
        if connection.transport is not None:
            self._by_transport.pop(connection.transport, None)
        self._slot_freed.set()
        self._touch()

    def _oldest_slow(self) -> _Connection | None:
        for state in (WAITING, READING):
            for connection in self._connections:
                if connection.state == state:
                    return connection
        return None

    async def _evict_oldest_slow(self, why: str) -> bool:
        """Close the oldest connection still sending its request and wait until it is gone; False if none."""
        connection = self._oldest_slow()
        if connection is None:
            return False
        self.log.note(
            f"connections closed to make room ({why})",
            "push webhook: %s: closed the oldest connection still %s",
            why,
            connection.state,
        )
        connection.disarm()
        connection.abort()
        await connection.closed
        return True

    async def _accept_until_stopped(self) -> None:
        """`_accept_forever`, saying so when an unforeseen error ends it (the task's error is read by no one)."""
        try:
            await self._accept_forever()
        except Exception:
            log.exception("push webhook: stopped accepting connections")

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._socket is not None and self._web_server is not None
        listener, web_server = self._socket, self._web_server
        while True:
            if len(self._connections) >= self.max_connections:
                await self._readable(listener)  # someone is waiting to be let in
                if len(self._connections) >= self.max_connections and not await self._evict_oldest_slow(
                    f"{self.max_connections} connections open"
                ):
                    self._slot_freed.clear()
                    await self._slot_freed.wait()
                continue
            try:
                client, _ = await loop.sock_accept(listener)
            except OSError as error:
                if error.errno not in _OUT_OF_RESOURCES:
                    if error.errno in (errno.ECONNABORTED, errno.EPROTO):
                        continue
                    raise
                self.log.note("failed accepts", "push webhook: cannot accept a connection: %s", error.strerror)
                if not await self._evict_oldest_slow("out of file descriptors"):
                    await self.clock.sleep(ACCEPT_RETRY_DELAY)
                continue
            try:
                await loop.connect_accepted_socket(lambda: _Connection(self, web_server()), client)
            except OSError as error:
                client.close()
                self.log.note("connections not served", "push webhook: could not serve a connection: %s", error)

    async def _readable(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(listener.fileno(), lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(listener.fileno())

    async def _flush_log_forever(self) -> None:
        while True:
            await self.clock.sleep(self._log_interval)
            self.log.flush()
