"""Moving a SQLite store into an empty PostgreSQL database (`kiji store copy --to postgresql://…`).

Everything a store remembers goes across with its ids: the blogs with their read times, the
ingest versions (meta), the posts with their tags, categories, search rows and cached
summaries, the posts that went away (so one that comes back is no news), the subscriptions, and
the ledgers that make announcements exactly-once (deliveries, digests, notices). Ids are kept,
so a ledger row still names its post and a pending delivery keeps its nonce: after the move the
bot announces nothing again and forgets nothing.

The copy reads one SQLite snapshot and writes one PostgreSQL transaction: a copy that fails
leaves the target as empty as it was, and one that succeeds is the store as it was at one
moment (stop the bot first, or its later writes stay behind in the file).
"""

from __future__ import annotations

import logging

import aiosqlite

from bot.store.copy_snapshot import NOT_COPIED, SEARCH_ROWS, TABLES, SnapshotReader
from bot.store.errors import StoreError
from bot.store.interface import KijiStore

log = logging.getLogger(__name__)


async def copy_store(source: KijiStore, target: KijiStore) -> dict[str, int]:
    """Copy the SQLite store `source` into the empty PostgreSQL store `target`; rows copied by table."""
    from bot.store.database import Store
    from bot.store.postgres import copy as postgres_copy
    from bot.store.postgres.store import PostgresStore

    if isinstance(source, PostgresStore) or not isinstance(source, Store):
        raise StoreError(f"the store to copy, {source.location.display}, is not a SQLite file")
    if not isinstance(target, PostgresStore):
        raise StoreError(f"the copy's target, {target.location.display}, is not a PostgreSQL database")

    async def in_one_snapshot(db: aiosqlite.Connection) -> dict[str, int]:
        reader = SnapshotReader(db)
        unknown = sorted(
            name
            for name in await reader.tables()
            if name not in {table.name for table in TABLES} | NOT_COPIED
            and not name.startswith((SEARCH_ROWS, "sqlite_"))  # FTS5's shadow tables, SQLite's own
        )
        if unknown:
            raise StoreError(f"this Kiji does not know how to copy the table(s) {', '.join(unknown)}; nothing copied")
        return await target.database.write(postgres_copy.fill, reader, target.location.display)

    copied = await source.database.read(in_one_snapshot)
    log.info("copied %s into %s", source.location.display, target.location.display)
    return copied
