"""The PostgreSQL side of `bot.store.copy`: fill an empty database from a SQLite snapshot, in one transaction."""

from __future__ import annotations

import asyncpg

from bot.store.copy_snapshot import SEARCH_ROWS, TABLES, SnapshotReader
from bot.store.errors import StoreError
from bot.store.postgres import search_index


async def kiji_rows(db: asyncpg.Connection) -> dict[str, int]:
    """Rows already in the tables a copy fills, by table (only those holding any)."""
    found = {}
    for name in (*(table.name for table in TABLES), SEARCH_ROWS):
        # `name` is one of our literal table names, never input
        count = int(await db.fetchval(f"SELECT count(*) FROM {name}"))
        if count:
            found[name] = count
    return found


async def _types(db: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {str(row["column_name"]): str(row["data_type"]) for row in rows}


def _converter(data_type: str) -> type | None:
    """How a SQLite value becomes this PostgreSQL type's (SQLite keeps 0.0 as 0 and truth as 0/1)."""
    return {"double precision": float, "boolean": bool}.get(data_type)


async def fill(db: asyncpg.Connection, reader: SnapshotReader, where: str) -> dict[str, int]:
    """Copy every table of `reader`'s snapshot; refuse a database that holds Kiji rows already."""
    present = await kiji_rows(db)
    if present:
        held = ", ".join(f"{count} in {name}" for name, count in present.items())
        raise StoreError(
            f"the database {where} is not empty ({held}): `kiji store copy` fills a new, empty database only, "
            "so nothing was copied; create one (createdb) and copy into it"
        )
    copied: dict[str, int] = {}
    for table in TABLES:
        types = await _types(db, table.name)
        columns = [column for column in await reader.columns(table.name) if column in types]
        missing = [column for column in await reader.columns(table.name) if column not in types]
        if missing:
            raise StoreError(f"the database {where} has no column {table.name}.{missing[0]}; nothing was copied")
        converters = [_converter(types[column]) for column in columns]
        copied[table.name] = 0
        async for chunk in reader.chunks(table, columns):
            records = [
                tuple(
                    value if convert is None or value is None else convert(value)
                    for value, convert in zip(row, converters, strict=True)
                )
                for row in chunk
            ]
            await db.copy_records_to_table(table.name, records=records, columns=columns)
            copied[table.name] += len(records)
        if table.identity:  # the next post, subscription or ledger row is numbered after the copied ones
            await db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), coalesce(max(id), 0) + 1, false) "
                f"FROM {table.name}"
            )
    copied[SEARCH_ROWS] = 0
    async for entries in reader.search_rows():
        await search_index.index(db, entries)
        copied[SEARCH_ROWS] += len(entries)
    for name, count in copied.items():
        if count != await reader.count(name):  # the snapshot cannot change: a count that differs is a bug
            raise StoreError(f"copied {count} rows of {name}, but the SQLite store has another count; nothing copied")
    return copied
