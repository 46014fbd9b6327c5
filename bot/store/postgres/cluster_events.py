"""Cluster events over PostgreSQL's NOTIFY/LISTEN (see `bot.store.cluster_events`).

Publishing is one `SELECT pg_notify($1, $2)` on a connection of the pool, outside the write queue
(a "sync this blog" must not wait behind this process's ingest batch) and outside any transaction,
so it is delivered at once. Listening needs a connection of its own, held for as long as someone
listens: a pooled connection would be handed to other work and its LISTEN would go with it.

That connection can drop (a server restart, a terminated backend, a failover of the server). The
listener notices (asyncpg's termination callback; a `SELECT 1` every `CHECK_EVERY_S` for a link
that died without closing), connects again, after a back-off that doubles while it keeps failing,
and hands its handlers `MISSED`: events sent meanwhile are lost, as NOTIFY's always are.
The connection says `application_name = kiji-events`, so an operator sees it in pg_stat_activity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from bot.clock import SYSTEM_CLOCK, Clock, wait_event
from bot.store.cluster_events import CHANNEL, MISSED, ClusterEvent, ClusterEventHandler, EventHandlers
from bot.store.location import StoreLocation
from bot.store.postgres.connections import CONNECT_TIMEOUT_S, PgDatabase, connection_failure_reason

log = logging.getLogger(__name__)

APPLICATION_NAME = "kiji-events"
RETRY_BASE_S = 0.5
RETRY_MAX_S = 30.0
CHECK_EVERY_S = 30.0
CHECK_TIMEOUT_S = 10.0
_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def notify(db: asyncpg.Connection, channel: str, payload: str) -> None:
    """Send `payload` to every session listening on `channel` (delivered when this statement commits)."""
    await db.execute("SELECT pg_notify($1, $2)", channel, payload)


class PgClusterEvents:
    """The NOTIFY/LISTEN channel of one PostgreSQL store, for one process."""

    def __init__(
        self,
        location: StoreLocation,
        database: Callable[[], PgDatabase],
        *,
        clock: Clock = SYSTEM_CLOCK,
        check_every_s: float = CHECK_EVERY_S,
    ) -> None:
        self._location = location
        self._database = database
        self._clock = clock
        self._check_every_s = check_every_s
        self._handlers = EventHandlers()
        self._task: asyncio.Task[None] | None = None
        self._first_try: asyncio.Event | None = None
        self.listening = False
        self.connections = 0  # listening connections made so far: a reconnect makes it 2

    async def publish(self, event: ClusterEvent) -> None:
        await self._database().run_alone(notify, CHANNEL, event.encode())

    async def listen(self, handler: ClusterEventHandler) -> None:
        self._handlers.add(handler)
        if self._task is None:
            self._first_try = asyncio.Event()
            self._task = asyncio.create_task(self._keep_listening(), name="kiji-cluster-events")
        assert self._first_try is not None
        await self._first_try.wait()

    async def unlisten(self, handler: ClusterEventHandler) -> None:
        self._handlers.remove(handler)
        if not self._handlers:
            await self.close()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _keep_listening(self) -> None:
        assert self._first_try is not None
        attempts = 0
        failures = 0
        while True:
            attempts += 1
            try:
                connection = await self._connect()
            except _FAILURES as exc:
                delay = min(RETRY_MAX_S, RETRY_BASE_S * 2**failures)
                failures += 1
                log.warning(
                    "cannot listen for other processes' events on %s (%s); trying again in %g s",
                    self._location.display,
                    connection_failure_reason(exc, self._location),
                    delay,
                )
                self._first_try.set()
                await self._clock.sleep(delay)
                continue
            failures = 0
            try:
                self.connections += 1
                self.listening = True
                self._first_try.set()
                if attempts > 1:
                    log.info("listening for other processes' events on %s again", self._location.display)
                    self._handlers.deliver(ClusterEvent(MISSED))
                await self._until_lost(connection)
            finally:
                self.listening = False
                connection.terminate()
            log.warning("the connection listening for other processes' events dropped; connecting again")

    async def _connect(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(
            self._location.url, timeout=CONNECT_TIMEOUT_S, server_settings={"application_name": APPLICATION_NAME}
        )
        try:
            await connection.add_listener(CHANNEL, self._received)
        except BaseException:
            connection.terminate()
            raise
        return connection

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._handlers.deliver_payload(payload)

    async def _until_lost(self, connection: asyncpg.Connection) -> None:
        """Return once `connection` is gone: closed under it, or not answering a check."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        while not connection.is_closed():
            if await wait_event(self._clock, lost, self._check_every_s):
                return
            try:
                await asyncio.wait_for(connection.fetchval("SELECT 1"), CHECK_TIMEOUT_S)
            except _FAILURES as exc:
                log.warning("the connection listening for other processes' events did not answer (%s)", exc)
                return
