"""The SQLite side of a store copy: the tables it moves, in order, and a reader of one snapshot.

Both ends of `kiji store copy` use it (`bot.store.copy` plans the copy, `bot.store.postgres.copy`
writes it), so it stands apart from both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiosqlite

CHUNK_ROWS = 2000


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    order: str  # the SQLite table's key: the order its rows are read in, chunk by chunk
    identity: bool = False  # an `id` column PostgreSQL numbers: its sequence continues after the copy


# In an order that satisfies every reference. posts_gone comes after posts: PostgreSQL's trigger
# would otherwise give a copied post that "came back" an earlier first-seen time than it has.
TABLES: tuple[Table, ...] = (
    Table("sources", "id", identity=True),
    Table("meta", "key"),
    Table("posts", "id", identity=True),
    Table("tags", "id", identity=True),
    Table("categories", "id", identity=True),
    Table("post_tags", "tag_id, date_utc, post_id"),
    Table("post_categories", "category_id, post_id"),
    Table("posts_gone", "source_id, path, content_hash"),
    Table("summaries", "post_id, length, source"),
    Table("subscriptions", "id", identity=True),
    Table("deliveries", "id", identity=True),
    Table("digests", "id", identity=True),
    Table("notice_settings", "guild_id"),
    Table("notices", "id", identity=True),
)
SEARCH_ROWS = "post_search"  # FTS5 on SQLite, a tsvector on PostgreSQL: rebuilt from the same tokens
# Tables known and deliberately left behind: the sync lease belongs to the process that held it on
# the SQLite file, and the bots on PostgreSQL take their own.
NOT_COPIED = frozenset({"leases"})


class SnapshotReader:
    """The SQLite side of a copy: chunks of rows from one read snapshot."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def tables(self) -> set[str]:
        rows = await self._db.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(row[0]) for row in rows}

    async def columns(self, table: str) -> list[str]:
        # `table` is one of TABLES' literal names, never input
        return [str(row[1]) for row in await self._db.execute_fetchall(f'PRAGMA table_info("{table}")')]

    async def count(self, table: str) -> int:
        rows = list(await self._db.execute_fetchall(f'SELECT count(*) FROM "{table}"'))
        return int(rows[0][0])

    async def chunks(self, table: Table, columns: Sequence[str]) -> AsyncIterator[list[tuple[object, ...]]]:
        """The table's rows in key order, `CHUNK_ROWS` at a time."""
        selected = ", ".join(f'"{column}"' for column in columns)
        offset = 0
        while True:
            rows = await self._db.execute_fetchall(
                f'SELECT {selected} FROM "{table.name}" ORDER BY {table.order} LIMIT ? OFFSET ?', (CHUNK_ROWS, offset)
            )
            chunk = [tuple(row) for row in rows]
            if not chunk:
                return
            yield chunk
            offset += len(chunk)

    async def search_rows(self) -> AsyncIterator[list[tuple[int, str, str]]]:
        """(post id, title tokens, body tokens) of every indexed post, as ingest indexed them."""
        offset = 0
        while True:
            rows = await self._db.execute_fetchall(
                f"SELECT rowid, title, body FROM {SEARCH_ROWS} ORDER BY rowid LIMIT ? OFFSET ?", (CHUNK_ROWS, offset)
            )
            chunk = [(int(row[0]), str(row[1]), str(row[2])) for row in rows]
            if not chunk:
                return
            yield chunk
            offset += len(chunk)
