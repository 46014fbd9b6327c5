"""One aiosqlite writer connection and a small pool of read-only ones.

SQLite allows one writer at a time; WAL lets any number of readers go on meanwhile, each
seeing the last committed state. So every write runs on the single writer connection, one
after another (an asyncio lock is the queue), and every read runs on one of a few read-only
connections, each with its own aiosqlite thread: a slash command never waits behind an
ingest batch. The model is datasette's `database.py` (one writer, separate readers).

Work is handed over as a coroutine function of an `aiosqlite.Connection`: a write is one
such function inside one `BEGIN IMMEDIATE … COMMIT`, a read one inside one read transaction
(one snapshot, so a post and its tags agree). A task cancelled while its write waits for the
writer never runs it; one cancelled while the write runs gets it rolled back, unless its
COMMIT had already been handed to the connection. The rollback is queued on the connection's
thread behind any statement still running there, so it always comes after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

from bot.store import schema
from bot.store.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[..., Awaitable[T]]

# Read connections: enough for a few commands at once on a 2-core machine; each is a thread.
READERS = 3
BUSY_TIMEOUT_MS = 5000
# SQLite's primary result codes (exc.sqlite_errorcode & 0xFF) the store explains to the user.
SQLITE_BUSY, SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_CANTOPEN, SQLITE_FULL, SQLITE_NOTADB = 5, 8, 11, 14, 13, 26


def rebuild_advice(path: Path) -> str:
    """How to get going again from a damaged file, keeping what cannot be re-ingested."""
    return (
        f"the posts can always be rebuilt: move {path} aside and run `kiji ingest`; the subscriptions and"
        f" the delivery ledger exist only in that file: keep the damaged copy and try `sqlite3 {path} .recover`,"
        " or restore them from a `kiji backup`"
    )


def explain(exc: sqlite3.Error, path: Path, doing: str) -> StoreError:
    """A StoreError saying what is wrong with the file for an error SQLite raised while `doing`."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StoreError(f"the database {path} is damaged ({exc}); {rebuild_advice(path)}")
    if code == SQLITE_READONLY:
        return StoreError(f"cannot {doing} {path}: {why_read_only(path)}")
    if code == SQLITE_FULL:
        return StoreError(f"cannot {doing} {path}: the disk is full; free some space and run the command again")
    return StoreError(
        f"cannot {doing} {path}: {exc}; make the file and its folder writable and check the disk has room"
    )


def why_read_only(path: Path) -> str:
    """Which of the usual causes makes `path` unwritable, asked of the operating system."""
    for target, flags in ((path, os.O_RDWR), (path.parent, os.O_RDONLY)):
        try:
            os.close(os.open(target, flags))
        except OSError as exc:
            if exc.errno == errno.EROFS:
                return "it is on a read-only file system; reading commands work, writing needs a writable copy of it"
            if exc.errno == errno.EACCES:
                return (
                    f"this user (uid {os.getuid()}) may not write it; make the file and its folder writable for"
                    " this user (SQLite creates files next to it); reading commands work meanwhile"
                )
    if not os.access(path.parent, os.W_OK):
        return "its folder is not writable, and SQLite creates files next to it to write: make the folder writable"
    return "the file is read-only; make it and its folder writable"


class Database:
    """The writer and the readers of one SQLite file; built by `Database.open`."""

    def __init__(self, path: Path, writer: aiosqlite.Connection | None, readers: list[aiosqlite.Connection]) -> None:
        self.path = path
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self._readers = list(readers)
        self._idle_readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._idle_readers.put_nowait(reader)
        self._closed = False
        # In a process that writes for another one (the bot's ingest process): the other's leave
        # to write, taken around each transaction, so that both processes' writes form one queue.
        self.write_gate: Callable[[], contextlib.AbstractAsyncContextManager[None]] | None = None

    @property
    def read_only(self) -> bool:
        """Opened without write access: reads work, every write raises a StoreError saying why."""
        return self._writer is None

    async def lower_writer_priority(self, niceness: int) -> bool:
        """Run the writer's thread at `niceness` (Linux only; elsewhere a no-op returning False).

        On two cores an ingest batch in the writer's thread competed with the threads answering
        members' commands for the CPU; lowered, it takes what they leave. The call runs inside
        SQLite on that thread (a one-off SQL function), the one public way to reach it.
        """
        if self._writer is None or not sys.platform.startswith("linux"):
            return False
        name = "kiji_lower_thread_priority"
        await self._writer.create_function(name, 0, functools.partial(_renice_this_thread, niceness))
        try:
            async with self._writer.execute(f"SELECT {name}()") as cursor:
                row = await cursor.fetchone()
        finally:
            await self._writer.create_function(name, 0, None)
        return bool(row and row[0])

    @property
    def writer_busy(self) -> bool:
        """A write is running or queued: a new one would wait for it (an ingest batch, say)."""
        return self._write_lock.locked()

    # -- opening ---------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path, create: bool = True, readers: int = READERS, check: bool = True) -> Database:
        """Open (creating and migrating if need be) and check the file."""
        existed, resolved = await asyncio.to_thread(_prepare_location, path, create)
        writer = await _open_writer(path, existed)
        opened: list[aiosqlite.Connection] = [] if writer is None else [writer]
        try:
            if writer is not None:
                await schema.migrate(writer, path)
            reader_list: list[aiosqlite.Connection] = []
            for _ in range(readers):
                reader_list.append(await _open_reader(resolved, immutable=False))
                opened.append(reader_list[-1])
            try:
                version = await schema.schema_version(reader_list[0])
            except sqlite3.OperationalError:
                if writer is not None:
                    raise
                # A read-only mount: no -shm file can be made, so no WAL reader can open; nothing can
                # change the file there either, so reading it as immutable is exact.
                for reader in reader_list:
                    await reader.close()
                reader_list = []
                for _ in range(readers):
                    reader_list.append(await _open_reader(resolved, immutable=True))
                    opened.append(reader_list[-1])
                version = await schema.schema_version(reader_list[0])
            if writer is None and version < schema.SCHEMA_VERSION:
                raise StoreError(
                    f"the database {path} needs upgrading to schema version {schema.SCHEMA_VERSION} and "
                    f"cannot be written: {why_read_only(path)}"
                )
            schema.refuse_newer(version, path)
            if check:
                await _quick_check(reader_list[0], path)
        except BaseException as exc:
            for connection in opened:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await connection.close()
            if isinstance(exc, sqlite3.Error):
                raise explain(exc, path, "open the database") from exc
            raise
        if writer is None:
            log.info("the database %s is read-only: %s", path, why_read_only(path))
        return cls(path, writer, reader_list)

    # -- running work ----------------------------------------------------------------

    async def read(self, work: Work[T], *args: Any) -> T:
        """`await work(connection, *args)` on a read-only connection, in one snapshot."""
        self._check_open()
        connection = await self._idle_readers.get()
        try:
            try:
                await connection.execute("BEGIN")
                return await work(connection, *args)
            finally:
                # a read transaction: nothing to undo, only the snapshot to let go (after any statement
                # still running on the connection's thread, even if this task was cancelled)
                await _roll_back(connection)
        except sqlite3.Error as exc:
            raise self._translate(exc, "read the database") from exc
        finally:
            self._idle_readers.put_nowait(connection)

    async def write(self, work: Work[T], *args: Any) -> T:
        """`await work(connection, *args)` on the writer inside BEGIN IMMEDIATE … COMMIT, after earlier writes."""
        self._check_open()
        writer = self._writer
        if writer is None:
            raise StoreError(f"cannot write to the database {self.path}: {why_read_only(self.path)}")
        gate = self.write_gate() if self.write_gate is not None else contextlib.nullcontext()
        async with self._write_lock, gate:  # cancelled while waiting here: the write never starts
            try:
                try:
                    await writer.execute("BEGIN IMMEDIATE")
                    result = await work(writer, *args)
                    await writer.commit()
                    return result
                except BaseException:
                    # Queued behind whatever statement a cancelled body left running; a no-op once
                    # the COMMIT went through.
                    await _roll_back(writer)
                    raise
            except sqlite3.Error as exc:
                raise self._translate(exc, "write to the database") from exc

    def _translate(self, exc: sqlite3.Error, doing: str) -> Exception:
        """Errors about the file become a StoreError saying what is wrong; our own mistakes stay as they are."""
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError
        ):
            return explain(exc, self.path, doing)
        return exc

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")

    @contextlib.asynccontextmanager
    async def holding_writes(self) -> AsyncIterator[None]:
        """Keep this process's writes waiting, in turn with them, while another process writes the file.

        SQLite's own lock would make them wait too, but polling, with a timeout: behind an ingest
        that commits batch after batch, a command's write could wait for seconds and then fail.
        """
        self._check_open()
        async with self._write_lock:
            yield

    async def run_on_writer(self, work: Work[T], *args: Any) -> T:
        """`await work(connection, *args)` on the writer outside any transaction (migrations, backups).

        On a read-only store, on a reader: a backup only reads, and a migration finds nothing to do.
        """
        self._check_open()
        if self._writer is None:
            connection = await self._idle_readers.get()
            try:
                return await work(connection, *args)
            finally:
                self._idle_readers.put_nowait(connection)
        async with self._write_lock:
            return await work(self._writer, *args)

    async def close(self) -> None:
        """Let running work finish, then close every connection; later calls are refused."""
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:  # the writes queued before this one go first
            for _ in self._readers:
                await self._idle_readers.get()  # each reader back from its last read
            for connection in [*self._readers, *([self._writer] if self._writer is not None else [])]:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await connection.close()


async def _roll_back(connection: aiosqlite.Connection) -> None:
    """End the connection's transaction undone (a no-op outside one), even if the task is cancelled meanwhile."""
    undo = asyncio.ensure_future(connection.rollback())
    try:
        await asyncio.shield(undo)
    except asyncio.CancelledError:
        await undo  # cancelled again while undoing: finish the rollback, then let the cancellation through
        raise


async def _connect(target: str, uri: bool = False) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(target, uri=uri, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        await connection.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await connection.close()
        raise
    return connection


def _prepare_location(path: Path, create: bool) -> tuple[bool, Path]:
    """Whether the file exists, and its absolute path; its folder made if need be. Blocking: file system calls."""
    if path.is_dir():
        raise StoreError(f"the database path {path} is a folder; give the path of a file inside it")
    existed = path.exists()
    if not create and not existed:
        raise StoreError(f"there is no database at {path}; run `kiji ingest` first, or point at the right file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for the database {path}: {exc.strerror}") from exc
    return existed, path.resolve()


def _renice_this_thread(niceness: int) -> int:
    """setpriority on the calling thread's id (on Linux niceness is per thread); never raises priority."""
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, max(niceness, os.getpriority(os.PRIO_PROCESS, thread)))
    except OSError as exc:
        log.debug("could not lower the writer thread's priority: %s", exc)
        return 0
    return 1


async def _open_writer(path: Path, existed: bool) -> aiosqlite.Connection | None:
    """The read-write connection in WAL mode, or None when the file exists but cannot be written."""
    try:
        writer = await _connect(str(path))
    except sqlite3.Error as exc:
        if existed:
            return None  # a read-only mount: SQLite cannot even open it for writing
        raise StoreError(f"cannot create the database {path}: {exc}; {why_read_only(path)}") from exc
    try:
        await _use_wal(writer)
        await writer.execute("PRAGMA synchronous = NORMAL")
        await _refuse_if_read_only(writer)
    except sqlite3.Error as exc:
        await writer.close()
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (SQLITE_READONLY, SQLITE_CANTOPEN) and existed:
            return None
        raise explain(exc, path, "open the database") from exc
    return writer


async def _use_wal(writer: aiosqlite.Connection) -> None:
    """Switch the file to WAL, waiting out another process doing the same.

    Changing the journal mode takes the file's exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, while another connection is switching it too:
    two `kiji` processes creating the same new store. Once it is WAL the switch is a no-op.
    """
    deadline = asyncio.get_running_loop().time() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            await writer.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == SQLITE_BUSY
            if not busy or asyncio.get_running_loop().time() >= deadline:
                raise
        await asyncio.sleep(pause)  # back off, not synchronise: the other process holds the lock
        pause = min(pause * 2, 0.2)


async def _refuse_if_read_only(writer: aiosqlite.Connection) -> None:
    """Raise SQLITE_READONLY if the connection cannot write: SQLite opens a write-protected file without a word.

    It asks for a write that changes nothing and takes a refusal as the answer. Without waiting:
    if another connection (the bot, mid-batch) holds the write lock, SQLite has already found the
    file writable (a read-only file is refused before any lock is tried), so "busy" means "writable".
    """
    await writer.execute("PRAGMA busy_timeout = 0")
    try:
        await writer.execute("BEGIN IMMEDIATE")
        try:
            await writer.execute(f"PRAGMA user_version = {await schema.schema_version(writer):d}")
        finally:
            await writer.rollback()
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF != SQLITE_BUSY:
            raise
    finally:
        await writer.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")


async def _open_reader(resolved: Path, immutable: bool) -> aiosqlite.Connection:
    mode = "immutable=1" if immutable else "mode=ro"
    reader = await _connect(f"file:{quote(str(resolved))}?{mode}", uri=True)
    await reader.execute("PRAGMA query_only = ON")
    return reader


async def _quick_check(connection: aiosqlite.Connection, path: Path) -> None:
    """Refuse a damaged file at open, while its damage is still only a message (quick_check: no index pass)."""
    problems = [str(row[0]) for row in await connection.execute_fetchall("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise StoreError(f"the database {path} is damaged ({'; '.join(problems)}); {rebuild_advice(path)}")
