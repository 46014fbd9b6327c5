"""PostgreSQL's search bookkeeping: the lexicon (prefixes) and the bm25 totals, against SQLite's answers.

A prefix (`transform*`) is turned into the lexemes it stands for through `search_lexicon`, bm25's
totals are kept in `search_totals`, a title phrase is looked up in `title_lexemes`; the migration
that made them fills them from the vectors already stored. A database indexed
before it (simulated: the table dropped and its migration not yet applied) must answer prefix
queries as SQLite does once the bot opens it again.
"""

from __future__ import annotations

import random
from pathlib import Path

import asyncpg
from factories import NOW, record

from bot.store import open_store
from bot.store.postgres.schema import MIGRATIONS
from bot.store.postgres.search_index import Phrase

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
        await connection.execute(
            "DROP TABLE search_lexicon, search_totals; DROP FUNCTION kiji_search_totals_add, kiji_search_totals_remove "
            "CASCADE; DROP INDEX post_search_loose; ALTER TABLE post_search DROP COLUMN title_lexemes; "
            "DROP INDEX posts_title_bigrams, posts_title_lookup; DROP FUNCTION kiji_bigrams"  # the migrations after
        )
        lexicon = next(n for n, sql in enumerate(MIGRATIONS, 1) if "CREATE TABLE search_lexicon" in sql)
        await connection.execute("DELETE FROM kiji_schema WHERE version >= $1", lexicon)
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


async def test_bm25_totals_follow_every_write_and_rank_as_sqlite(tmp_path: Path, postgres_url: str) -> None:
    """`search_totals` (posts, tokens) stays the sum over the index through updates, removals and a cascade."""
    sqlite_store = await open_store(tmp_path / "kiji.sqlite3")
    postgres_store = await open_store(postgres_url)
    changed = record("transformers", "Transformers", "a much longer body about transformer retrieval " * 20)
    try:
        for store in (sqlite_store, postgres_store):
            await store.write_batch(POSTS, now=NOW)
            await store.write_batch([changed], removals=["other"], now=NOW)
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute("DELETE FROM posts WHERE path = 'plain'")  # its index row goes by cascade
            totals = await connection.fetchrow("SELECT posts, tokens FROM search_totals")
            summed = await connection.fetchrow(
                "SELECT count(*) AS posts, coalesce(sum(title_size + body_size), 0) AS tokens FROM post_search"
            )
        finally:
            await connection.close()
        assert (
            (totals["posts"], totals["tokens"])
            == (summed["posts"], summed["tokens"])
            == (1, len(changed.title_tokens.split()) + len(changed.body_tokens.split()))
        )
        await sqlite_store.write_batch(removals=["plain"], now=NOW)
        for query in QUERIES:
            assert await postgres_store.search_matches(query, limit=20, now=NOW) == await sqlite_store.search_matches(
                query, limit=20, now=NOW
            ), query
    finally:
        await postgres_store.close()
        await sqlite_store.close()


def test_a_phrase_is_counted_in_a_long_post_as_its_reference_finds_it() -> None:
    """`Phrase.count_in` (a regex, for posts past tsvector's limits) against `Phrase.starts` (token by token)."""
    rng = random.Random(3)
    vocabulary = ["ab", "a", "abc", "b", "ba", "x'y", "a.b", "生成", "成a", "ai", "aix", "\\", "[", "*"]
    found = 0
    for _ in range(5000):
        tokens = [rng.choice(vocabulary) for _ in range(rng.randint(0, 12))]
        phrase = Phrase(tuple(rng.choice(vocabulary) for _ in range(rng.randint(1, 3))), rng.random() < 0.5)
        if rng.random() < 0.3 and len(tokens) > len(phrase.tokens):
            at = rng.randrange(len(tokens) - len(phrase.tokens))
            tokens[at : at + len(phrase.tokens)] = phrase.tokens
        expected = len(phrase.starts(tokens))
        found += expected
        assert phrase.count_in(" ".join(tokens)) == expected, (phrase, tokens)
    assert found > 1000
