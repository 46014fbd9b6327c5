"""Cluster events between the processes sharing a store: real NOTIFY/LISTEN on a real PostgreSQL,
this process's own handlers on a SQLite file (issue 24, point 4).

Each "process" here is a store of its own, with its own pool and its own listening connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from factories import NOW, record

from bot.clock import ManualClock
from bot.store import KijiStore, StoreError, open_store, parse_location
from bot.store.cluster_events import CHANNEL, MISSED, POSTS_CHANGED, SYNC, ClusterEvent
from bot.store.postgres.cluster_events import APPLICATION_NAME, PgClusterEvents

WAIT_S = 15.0


@pytest.fixture
def store_backend(both_backends: str) -> str:
    return both_backends


class Heard:
    """A handler that keeps what it hears, for the test to wait on."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[ClusterEvent] = asyncio.Queue()

    def __call__(self, event: ClusterEvent) -> None:
        self.events.put_nowait(event)

    async def next(self) -> ClusterEvent:
        return await asyncio.wait_for(self.events.get(), WAIT_S)


@pytest.fixture
async def other_process(postgres_url: str) -> AsyncIterator[tuple[KijiStore, KijiStore]]:
    """Two stores on one PostgreSQL database, as two `kiji run` processes hold them."""
    first = await open_store(postgres_url, clock=lambda: NOW)
    second = await open_store(postgres_url, clock=lambda: NOW)
    yield first, second
    await second.close()
    await first.close()


async def listeners(url: str) -> list[int]:
    """The backend pids of the listening connections on the database of `url`."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
    finally:
        await connection.close()
    return [int(row["pid"]) for row in rows]


async def settled_listeners(url: str, count: int, timeout_s: float = 5.0) -> list[int]:
    """The listening backends once there are `count` of them (or the last answer at the deadline).

    A client's close returns before its server backend has exited, so pg_stat_activity may still
    list a connection just closed for a moment: ask the server again until it agrees or time is up.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        pids = await listeners(url)
        if len(pids) == count or asyncio.get_running_loop().time() > deadline:
            return pids
        await asyncio.sleep(0.02)


async def test_a_published_event_reaches_this_process_s_handlers(store: KijiStore) -> None:
    """The same calls on both backends: on SQLite (one process per file) the publisher's own handlers hear it."""
    heard = Heard()
    await store.listen_events(heard)
    await store.publish_event(ClusterEvent(SYNC, "github.com/owner/blog"))
    await store.publish_event(ClusterEvent(POSTS_CHANGED))
    assert [await heard.next(), await heard.next()] == [
        ClusterEvent(SYNC, "github.com/owner/blog"),
        ClusterEvent(POSTS_CHANGED),
    ]
    still = Heard()
    await store.listen_events(still)
    await store.unlisten_events(heard)
    await store.publish_event(ClusterEvent(POSTS_CHANGED))
    assert await still.next() == ClusterEvent(POSTS_CHANGED)  # delivered in order: `heard` would have had it by now
    assert heard.events.empty()


async def test_an_event_too_big_for_notify_is_refused_with_its_reason(store: KijiStore) -> None:
    with pytest.raises(StoreError, match="over 7999 bytes"):
        await store.publish_event(ClusterEvent(SYNC, "b" * 8000))


async def test_an_event_published_by_one_process_reaches_the_other(
    other_process: tuple[KijiStore, KijiStore], postgres_url: str
) -> None:
    publisher, listener = other_process
    heard = Heard()
    await listener.listen_events(heard)
    assert len(await listeners(postgres_url)) == 1  # one connection of its own, whatever the pool does
    await publisher.publish_event(ClusterEvent(SYNC, "blog ☃ 記事"))
    assert await heard.next() == ClusterEvent(SYNC, "blog ☃ 記事")


async def test_the_listener_connects_again_after_its_backend_is_terminated(
    other_process: tuple[KijiStore, KijiStore], postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    publisher, listener = other_process
    heard = Heard()
    await listener.listen_events(heard)
    [pid] = await listeners(postgres_url)
    admin = await asyncpg.connect(postgres_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    # back: its handlers are told that events sent meanwhile may be lost, then hear new ones
    assert await heard.next() == ClusterEvent(MISSED)
    [again] = await listeners(postgres_url)
    assert again != pid
    await publisher.publish_event(ClusterEvent(POSTS_CHANGED))
    assert await heard.next() == ClusterEvent(POSTS_CHANGED)
    assert "dropped; connecting again" in caplog.text


async def test_foreign_messages_on_the_channel_are_ignored_and_do_not_stop_listening(
    other_process: tuple[KijiStore, KijiStore], postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    publisher, listener = other_process
    heard = Heard()
    await listener.listen_events(heard)
    admin = await asyncpg.connect(postgres_url)
    try:
        for foreign in ("not json", '["kind"]', '{"kind": 3}', '{"kind": "sync", "blog": 7}'):
            await admin.execute("SELECT pg_notify($1, $2)", CHANNEL, foreign)
    finally:
        await admin.close()
    await publisher.publish_event(ClusterEvent(SYNC, "blog"))
    assert await heard.next() == ClusterEvent(SYNC, "blog")  # the first one it heard: the foreign ones were dropped
    assert caplog.text.count("that is not a Kiji event") == 4


async def test_the_listening_connection_goes_with_its_last_handler_and_with_the_store(
    other_process: tuple[KijiStore, KijiStore], postgres_url: str
) -> None:
    _publisher, listener = other_process
    first, second = Heard(), Heard()
    await listener.listen_events(first)
    await listener.listen_events(second)
    assert len(await settled_listeners(postgres_url, 1)) == 1
    await listener.unlisten_events(first)
    assert len(await settled_listeners(postgres_url, 1)) == 1
    await listener.unlisten_events(second)
    assert await settled_listeners(postgres_url, 0) == []
    await listener.listen_events(first)
    assert len(await settled_listeners(postgres_url, 1)) == 1
    await listener.close()
    assert await settled_listeners(postgres_url, 0) == []


async def test_dropping_cached_lists_makes_the_next_read_see_another_process_s_writes(
    other_process: tuple[KijiStore, KijiStore],
) -> None:
    writer, reader = other_process
    source = await writer.register_source("blog", "blog")
    await writer.write_batch([record("_posts/2020-01-01-a.md", "A", "Text a.", tags=("first",))], source_id=source)
    assert [tag.name for tag in await reader.tags()] == ["first"]
    await writer.write_batch([record("_posts/2020-01-02-b.md", "B", "Text b.", tags=("second",))], source_id=source)
    assert [tag.name for tag in await reader.tags()] == ["first"]  # cached: the other process's write is unseen
    reader.drop_cached_lists()
    assert sorted(tag.name for tag in await reader.tags()) == ["first", "second"]


class TcpRelay:
    """A TCP relay on 127.0.0.1 to the PostgreSQL server: stopping it is the server going away for its clients."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        self._writers.difference_update((writer, up_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


class LogWaiter(logging.Handler):
    """Sets an event when a record containing `text` is logged: a test waits for it instead of for time."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.INFO)
        self.text = text
        self.seen = asyncio.Event()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.count += 1
            self.seen.set()

    async def next(self) -> None:
        await asyncio.wait_for(self.seen.wait(), WAIT_S)
        self.seen.clear()


@pytest.fixture
async def relayed(postgres_url: str) -> AsyncIterator[tuple[TcpRelay, str]]:
    parts = urlsplit(postgres_url)
    relay = TcpRelay(parts.hostname or "127.0.0.1", parts.port or 5432)
    await relay.start()
    await relay.stop()  # its port is known; the server is "away" until the test starts it
    yield relay, urlunsplit(parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{relay.port}"))


async def test_the_listener_backs_off_while_the_server_is_away_and_listens_again_when_it_is_back(
    other_process: tuple[KijiStore, KijiStore], relayed: tuple[TcpRelay, str], caplog: pytest.LogCaptureFixture
) -> None:
    publisher, _ = other_process
    relay, url = relayed
    clock = ManualClock()
    failed = LogWaiter("cannot listen for other processes' events")
    logging.getLogger("bot.store.postgres.cluster_events").addHandler(failed)
    events = PgClusterEvents(parse_location(url), lambda: publisher.database, clock=clock)  # type: ignore[attr-defined]
    heard = Heard()
    try:
        await events.listen(heard)  # the server is away: it says so and returns, instead of holding the start
        assert (events.listening, failed.count) == (False, 1)
        assert "trying again in 0.5 s" in caplog.text
        failed.seen.clear()
        await relay.start()
        clock.advance(0.5)
        assert await heard.next() == ClusterEvent(MISSED)  # listening now, and events may have been missed
        assert events.listening
        await publisher.publish_event(ClusterEvent(POSTS_CHANGED))
        assert await heard.next() == ClusterEvent(POSTS_CHANGED)

        await relay.stop()  # the server goes away while listening: tried again at once, then after 0.5 s, …
        await failed.next()
        assert "dropped; connecting again" in caplog.text
        clock.advance(0.5)
        await failed.next()
        assert "trying again in 1 s" in caplog.text and failed.count == 3
        await relay.start()
        clock.advance(1.0)
        assert await heard.next() == ClusterEvent(MISSED)
        await publisher.publish_event(ClusterEvent(SYNC, "blog"))
        assert await heard.next() == ClusterEvent(SYNC, "blog")
        assert urlsplit(url).password not in caplog.text
    finally:
        await events.close()
        logging.getLogger("bot.store.postgres.cluster_events").removeHandler(failed)
