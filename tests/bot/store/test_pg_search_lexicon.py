"""PostgreSQL's search lexicon: a prefix query ranks alike on a store indexed before the lexicon existed.

A prefix (`transform*`) is turned into the lexemes it stands for through `search_lexicon`; the
migration that made the table fills it from the vectors already stored. A database indexed
before it (simulated: the table dropped and its migration not yet applied) must answer prefix
queries as SQLite does once the bot opens it again.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
from factories import NOW, record

from bot.store import open_store
from bot.store.postgres.schema import SCHEMA_VERSION

POSTS = [
    record("transformers", "Transformers explained", "transformer models transform text; a transformation"),
    record("other", "Other", "transformers again, and retrieval"),
    record("plain", "Plain", "nothing of the kind"),
]
QUERIES = ("transform", "transformer", "trans", "retrieval", "t")


async def test_a_store_indexed_before_the_lexicon_ranks_prefixes_as_sqlite_after_migrating(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite_store = await open_store(tmp_path / "kiji.sqlite3")
    postgres_store = await open_store(postgres_url)
    for store in (sqlite_store, postgres_store):
        await store.write_batch(POSTS, now=NOW)
    await postgres_store.close()
    connection = await asyncpg.connect(postgres_url)
    try:  # the database as the migration before the lexicon's left it
        await connection.execute("DROP TABLE search_lexicon")
        await connection.execute("DELETE FROM kiji_schema WHERE version = $1", SCHEMA_VERSION)
    finally:
        await connection.close()
    postgres_store = await open_store(postgres_url)
    try:
        for query in QUERIES:
            expected = await sqlite_store.search_matches(query, limit=20, now=NOW)
            assert expected, query
            assert await postgres_store.search_matches(query, limit=20, now=NOW) == expected, query
    finally:
        await postgres_store.close()
        await sqlite_store.close()
