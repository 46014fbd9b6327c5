"""Small SQL helpers every aggregate module shares."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import aiosqlite

from bot.content.textnorm import normalize_key

# Values per `IN (…)` list: well under SQLite's limit on parameters in one statement.
CHUNK = 500


async def fetch_all(connection: aiosqlite.Connection, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
    """Every row of one statement, fetched in one trip to the connection's thread."""
    return list(await connection.execute_fetchall(sql, params))


async def fetch_one(connection: aiosqlite.Connection, sql: str, params: Sequence[object] = ()) -> sqlite3.Row | None:
    """The first row of a statement that returns at most a few, or None."""
    rows = await fetch_all(connection, sql, params)
    return rows[0] if rows else None


async def rows_in(
    connection: aiosqlite.Connection, template: str, values: Sequence[object], leading: Sequence[object] = ()
) -> list[sqlite3.Row]:
    """Rows of a `… IN ({marks})` query for `values`, in chunks under SQLite's parameter limit.

    Placeholders, never a JSON array or inlined values: a name may hold any character, NUL included.
    `leading` are the parameters of the placeholders before the list.
    """
    rows: list[sqlite3.Row] = []
    for start in range(0, len(values), CHUNK):
        chunk = list(values[start : start + CHUNK])
        rows.extend(await fetch_all(connection, template.format(marks=", ".join("?" * len(chunk))), [*leading, *chunk]))
    return rows


async def ids_by(
    connection: aiosqlite.Connection, template: str, names: Sequence[object], leading: Sequence[object] = ()
) -> dict[str, int]:
    """name → id for a `SELECT name, id … IN ({marks})` query."""
    return {str(row[0]): int(row[1]) for row in await rows_in(connection, template, names, leading)}


def unique_by_key(names: Iterable[str]) -> list[str]:
    """`names` without repeats by normalised key, first spelling kept; empty keys dropped."""
    seen: set[str] = set()
    unique = []
    for name in names:
        key = normalize_key(name)
        if key and key not in seen:
            seen.add(key)
            unique.append(name)
    return unique
