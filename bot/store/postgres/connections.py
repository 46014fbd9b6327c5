"""A pool of asyncpg connections, run the way `bot.store.connections.Database` runs SQLite's.

The same contract as the SQLite `Database`, so `Store`'s methods work unchanged over it: a read
is a coroutine function of a connection inside one read-only REPEATABLE READ transaction (one
snapshot, so a post and its tags agree); a write is one inside one transaction. Writes of this
process still queue on one asyncio lock: `writer_busy` means what it means on SQLite (a summary
cache write queues behind an ingest batch instead of making a reply wait), and the aggregate
functions, written as one writer's steps (look up, then insert), never race each other here.
Other processes' writes (the ingest process, a second bot) go on beside them under PostgreSQL's
row locks.

Work is named by its SQLite function (`bot.store.posts.latest`); the function of the same name
in this package (`bot.store.postgres.posts.latest`) is what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from bot.store.errors import StoreError
from bot.store.location import StoreLocation

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[..., Awaitable[T]]

POOL_SIZE = 4
CONNECT_TIMEOUT_S = 10.0
_SQLITE_PACKAGE = "bot.store."
_OWN_PACKAGE = "bot.store.postgres."


def twin(work: Work[T]) -> Work[T]:
    """This backend's function for the SQLite aggregate function `work` (itself, if it is one of ours)."""
    module = work.__module__
    if module.startswith(_OWN_PACKAGE) or not module.startswith(_SQLITE_PACKAGE):
        return work
    ours = importlib.import_module(_OWN_PACKAGE + module.removeprefix(_SQLITE_PACKAGE))
    found = getattr(ours, work.__name__, None)
    if found is None:
        raise NotImplementedError(f"the PostgreSQL store has no {module}.{work.__name__} yet")
    return found  # type: ignore[no-any-return]  # a twin has its namesake's signature


async def _configure(connection: asyncpg.Connection) -> None:
    # double precision stays a Python float and bigint an int, as sqlite3 returns them
    await connection.execute("SET TIME ZONE 'UTC'")


class PgDatabase:
    """The pool of one PostgreSQL database; built by `PgDatabase.open`."""

    def __init__(self, location: StoreLocation, pool: asyncpg.Pool) -> None:
        self.location = location
        self._pool = pool
        self._write_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, location: StoreLocation) -> PgDatabase:
        try:
            pool = await asyncpg.create_pool(
                location.url, min_size=1, max_size=POOL_SIZE, init=_configure, timeout=CONNECT_TIMEOUT_S
            )
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            reason = connection_failure_reason(exc, location)
            raise StoreError(f"cannot connect to the database {location.display}: {reason}") from None
        return cls(location, pool)

    @property
    def read_only(self) -> bool:
        return False

    @property
    def writer_busy(self) -> bool:
        return self._write_lock.locked()

    async def read(self, work: Work[T], *args: Any) -> T:
        """`await work(connection, *args)` in one read-only snapshot."""
        self._check_open()
        function = twin(work)
        try:
            async with (
                self._pool.acquire() as connection,
                connection.transaction(isolation="repeatable_read", readonly=True),
            ):
                return await function(connection, *args)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"cannot read the database {self.location.display}: {exc}") from exc

    async def write(self, work: Work[T], *args: Any) -> T:
        """`await work(connection, *args)` in one transaction, after this process's earlier writes."""
        self._check_open()
        function = twin(work)
        async with self._write_lock:
            try:
                async with self._pool.acquire() as connection, connection.transaction():
                    return await function(connection, *args)
            except asyncpg.DataError as exc:
                # a value PostgreSQL cannot hold (a NUL character, a number out of range): the caller's to
                # handle as SQLite's OverflowError or ValueError (ingest then stores the batch post by post)
                raise ValueError(f"a value cannot be stored: {exc}") from exc
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                raise StoreError(f"cannot write to the database {self.location.display}: {exc}") from exc

    async def run_on_writer(self, work: Work[T], *args: Any) -> T:
        """`await work(connection, *args)` outside any transaction (migrations)."""
        self._check_open()
        async with self._write_lock, self._pool.acquire() as connection:
            return await twin(work)(connection, *args)

    async def run_alone(self, work: Work[T], *args: Any) -> T:
        """`await work(connection, *args)` outside the write queue and any transaction: for a statement that
        writes no rows and must not wait behind this process's writes (a NOTIFY)."""
        self._check_open()
        try:
            async with self._pool.acquire() as connection:
                return await twin(work)(connection, *args)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"cannot reach the database {self.location.display}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def holding_writes(self) -> AsyncIterator[None]:
        """Nothing to hold: PostgreSQL lets another process write beside this one."""
        self._check_open()
        yield

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store {self.location.display} is closed")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            await self._pool.close()


def connection_failure_reason(exc: BaseException, location: StoreLocation) -> str:
    """Why the connection failed, in words that never hold the password."""
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:.0f} s; check the host and port, and that PostgreSQL is running"
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        return "the user name or password was refused; check the credentials in KIJI_DATABASE_URL"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "there is no such database; create it first (createdb), Kiji makes the tables"
    text = str(exc)
    secret = _password(location.url)
    if secret:
        text = text.replace(secret, "***")
    return text or type(exc).__name__


def _password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None
