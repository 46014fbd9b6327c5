"""One writer connection and a small pool of read-only ones, each used from its own thread.

SQLite allows one writer at a time; WAL lets any number of readers go on meanwhile, each
seeing the last committed state. So every write runs on the single writer connection, one
after another (a one-thread executor is the queue), and every read runs on one of a few
read-only connections: a slash command never waits behind an ingest batch. The model is
datasette's `database.py`.

Work is handed over as a plain function of a `sqlite3.Connection`, run whole on the
connection's thread: a write is one function inside one `BEGIN IMMEDIATE … COMMIT`, a read
one function inside one read transaction (one snapshot, so a post and its tags agree). A
task cancelled while its write waits in the queue never runs it; one cancelled while the
write runs gets it rolled back, unless it had already committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from bot.store import schema
from bot.store.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Read connections: enough for a few commands at once on a 2-core machine; each is a thread.
READERS = 3
BUSY_TIMEOUT_MS = 5000
# SQLite's primary result codes (exc.sqlite_errorcode & 0xFF) the store explains to the user.
SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_CANTOPEN, SQLITE_FULL, SQLITE_NOTADB = 8, 11, 14, 13, 26


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

    def __init__(self, path: Path, writer: sqlite3.Connection | None, readers: list[sqlite3.Connection]) -> None:
        self.path = path
        self._writer = writer
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiji-store-write")
        self._idle_readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        for reader in readers:
            self._idle_readers.put(reader)
        self._readers = list(readers)
        self._reader_threads = ThreadPoolExecutor(max_workers=len(readers), thread_name_prefix="kiji-store-read")
        self._closed = False

    @property
    def read_only(self) -> bool:
        """Opened without write access: reads work, every write raises a StoreError saying why."""
        return self._writer is None

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, create: bool = True, readers: int = READERS, check: bool = True) -> Database:
        """Open (creating and migrating if need be) and check the file. Blocking: run it in a thread."""
        if path.is_dir():
            raise StoreError(f"the database path {path} is a folder; give the path of a file inside it")
        if not create and not path.exists():
            raise StoreError(f"there is no database at {path}; run `kiji ingest` first, or point at the right file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the database {path}: {exc.strerror}") from exc
        writer = _open_writer(path)
        opened: list[sqlite3.Connection] = [] if writer is None else [writer]
        try:
            if writer is not None:
                schema.migrate(writer, path)
            reader_list = [_open_reader(path, immutable=False) for _ in range(readers)]
            opened += reader_list
            try:
                version = schema.schema_version(reader_list[0])
            except sqlite3.OperationalError:
                if writer is not None:
                    raise
                # A read-only mount: no -shm file can be made, so no WAL reader can open; nothing can
                # change the file there either, so reading it as immutable is exact.
                for reader in reader_list:
                    reader.close()
                reader_list = [_open_reader(path, immutable=True) for _ in range(readers)]
                opened += reader_list
                version = schema.schema_version(reader_list[0])
            if writer is None and version < schema.SCHEMA_VERSION:
                raise StoreError(
                    f"the database {path} needs upgrading to schema version {schema.SCHEMA_VERSION} and "
                    f"cannot be written: {why_read_only(path)}"
                )
            schema.refuse_newer(version, path)
            if check:
                _quick_check(reader_list[0], path)
        except BaseException as exc:
            for connection in opened:
                connection.close()
            if isinstance(exc, sqlite3.Error):
                raise explain(exc, path, "open the database") from exc
            raise
        if writer is None:
            log.info("the database %s is read-only: %s", path, why_read_only(path))
        return cls(path, writer, reader_list)

    # -- running work ----------------------------------------------------------------

    async def read(self, work: Callable[..., T], *args: Any) -> T:
        """`work(connection, *args)` on a read-only connection, in one snapshot."""
        self._check_open()
        return await asyncio.wrap_future(self._reader_threads.submit(self._run_read, work, args))

    def _run_read(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        connection = self._idle_readers.get()
        try:
            connection.execute("BEGIN")
            try:
                return work(connection, *args)
            finally:
                connection.execute("COMMIT")  # a read transaction: nothing to undo, only the snapshot to let go
        except sqlite3.Error as exc:
            raise self._translate(exc, "read the database") from exc
        finally:
            self._idle_readers.put(connection)

    async def write(self, work: Callable[..., T], *args: Any) -> T:
        """`work(connection, *args)` on the writer inside BEGIN IMMEDIATE … COMMIT, after earlier writes."""
        self._check_open()
        if self._writer is None:
            raise StoreError(f"cannot write to the database {self.path}: {why_read_only(self.path)}")
        cancelled = threading.Event()
        running = self._writer_thread.submit(self._run_write, self._writer, work, args, cancelled)
        try:
            return await asyncio.wrap_future(running)
        except asyncio.CancelledError:
            cancelled.set()  # still queued: cancelling the future dropped it; running: it rolls back
            raise

    def _run_write(
        self, connection: sqlite3.Connection, work: Callable[..., T], args: tuple[Any, ...], cancelled: threading.Event
    ) -> T:
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection, *args)
                if cancelled.is_set():
                    raise asyncio.CancelledError
                connection.execute("COMMIT")
                return result
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
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

    def run_on_writer(self, work: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`work(connection, *args)` on the writer outside any transaction (migrations, backups)."""
        self._check_open()
        if self._writer is None:
            return asyncio.wrap_future(self._reader_threads.submit(self._run_on_reader, work, args))
        return asyncio.wrap_future(self._writer_thread.submit(work, self._writer, *args))

    def _run_on_reader(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        connection = self._idle_readers.get()
        try:
            return work(connection, *args)
        finally:
            self._idle_readers.put(connection)

    async def close(self) -> None:
        """Let queued work finish, then close every connection (each on no thread but ours)."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._writer_thread.shutdown(wait=True)
        self._reader_threads.shutdown(wait=True)
        for connection in [*self._readers, *([self._writer] if self._writer is not None else [])]:
            with contextlib.suppress(sqlite3.Error):
                connection.close()


def _configure(connection: sqlite3.Connection) -> sqlite3.Connection:
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _open_writer(path: Path) -> sqlite3.Connection | None:
    """The read-write connection in WAL mode, or None when the file exists but cannot be written."""
    try:
        writer = _configure(sqlite3.connect(path, isolation_level=None, check_same_thread=False))
    except sqlite3.Error as exc:
        if path.exists():
            return None  # a read-only mount: SQLite cannot even open it for writing
        raise StoreError(f"cannot create the database {path}: {exc}; {why_read_only(path)}") from exc
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA synchronous = NORMAL")
        # SQLite opens a write-protected file read-only without a word: ask for a write that changes
        # nothing, and take its refusal as the answer.
        writer.execute("BEGIN IMMEDIATE")
        try:
            writer.execute(f"PRAGMA user_version = {schema.schema_version(writer):d}")
        finally:
            writer.execute("ROLLBACK")
    except sqlite3.Error as exc:
        writer.close()
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (SQLITE_READONLY, SQLITE_CANTOPEN) and path.exists():
            return None
        raise explain(exc, path, "open the database") from exc
    return writer


def _open_reader(path: Path, immutable: bool) -> sqlite3.Connection:
    mode = "immutable=1" if immutable else "mode=ro"
    uri = f"file:{quote(str(path.resolve()))}?{mode}"
    reader = _configure(sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False))
    reader.execute("PRAGMA query_only = ON")
    return reader


def _quick_check(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged file at open, while its damage is still only a message (quick_check: no index pass)."""
    problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise StoreError(f"the database {path} is damaged ({'; '.join(problems)}); {rebuild_advice(path)}")
