"""One `kiji run` per SQLite file, held by an exclusive lock on `<database>.run.lock`.

Two bots on one SQLite file would both receive every interaction and both answer it, and both
fan out every new post; SQLite cannot coordinate them (no row locks to claim work with), so the
second one refuses to start and points to PostgreSQL, where several processes can share a store.
The lock is `flock` on a file beside the database: the kernel lets it go however the holder ends,
SIGKILL included, so a crashed bot never leaves a stale lock that blocks the next start. Only
`kiji run` takes it: `kiji ingest` and the reading commands use the file alongside the bot.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from bot.store.errors import StoreError
from bot.store.location import StoreLocation, parse_location

log = logging.getLogger(__name__)


class AlreadyServed(StoreError):
    """Another `kiji run` holds the SQLite file; the message says why that matters and what to use instead."""


def run_lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".run.lock")


@contextlib.contextmanager
def exclusive_run(location: str | Path | StoreLocation) -> Iterator[None]:
    """Hold the run lock of a SQLite store while the block runs; a PostgreSQL store needs none."""
    where = location if isinstance(location, StoreLocation) else parse_location(location)
    if where.path is None:
        yield
        return
    lock_path = run_lock_path(where.path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open the run lock {lock_path} beside the database: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
            raise AlreadyServed(
                f"another `kiji run` is already serving {where.path}"
                + (f" (process {holder})" if holder.isdigit() else "")
                + ": two bots on one SQLite file would answer every command and announce every post twice. "
                "Stop the other one, or, to run several processes (shards, a standby), put the store in "
                "PostgreSQL: KIJI_DATABASE_URL=postgresql://USER:PASSWORD@HOST/DATABASE"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)  # who holds it, for the message above
        log.debug("holding %s", lock_path)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays, empty of meaning until the next holder
