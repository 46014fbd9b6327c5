"""Posts past tsvector's limits are found and ranked on PostgreSQL exactly as on SQLite.

A tsvector keeps at most 256 positions of a lexeme and none past 16,383; FTS5 has no such
limits. Long posts (a word 300 times, a phrase only after token 16,383, a 3,000-byte "word")
are written to a SQLite file and a PostgreSQL database alike, and every query must get the same
answer from both, in the same order, on the ranked path and on the unranked one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from factories import NOW, record

from bot.store import KijiStore, open_store

LONG_WORD = "x" * 3000
POSTS = [
    record("many", "Many words", "rag " * 300 + "retrieval augmented generation"),
    record("late", "Late phrase", "filler " * 17_000 + "生成AI appears only here"),
    record("late-words", "Late words", "生成 " + "padding " * 17_000 + "AI"),
    record("short", "生成AI in the title", "and a short body about rag and 生成AI"),
    record("other", "Other", "retrieval only, and rag once"),
    record("long-word", "A long word", f"{LONG_WORD} then rag"),
]
QUERIES = ("rag", "生成AI", "生成 AI", "retrieval augmented", "filler", "appears only", "AI", LONG_WORD, "padding AI")


@pytest_asyncio.fixture
async def both(tmp_path, postgres_url: str) -> AsyncIterator[tuple[KijiStore, KijiStore]]:
    stores = [await open_store(tmp_path / "kiji.sqlite3"), await open_store(postgres_url)]
    try:
        for store in stores:
            await store.write_batch(POSTS, now=NOW)
        yield stores[0], stores[1]
    finally:
        for store in stores:
            await store.close()


async def test_long_posts_are_matched_and_ranked_the_same(both: tuple[KijiStore, KijiStore]) -> None:
    sqlite_store, postgres_store = both
    answered = 0
    for query in QUERIES:
        expected = await sqlite_store.search_matches(query, limit=50, now=NOW)
        answered += bool(expected)
        assert await postgres_store.search_matches(query, limit=50, now=NOW) == expected, query
    assert answered == len(QUERIES)
    late = await postgres_store.search("生成AI", now=NOW)
    assert {hit.post.path for hit in late} == {"late", "short"}


async def test_long_posts_take_the_unranked_path_the_same(both: tuple[KijiStore, KijiStore]) -> None:
    sqlite_store, postgres_store = both
    sqlite_store.ranked_search_max = postgres_store.ranked_search_max = 1
    for query in QUERIES:
        assert await postgres_store.search_matches(query, limit=50, now=NOW) == await sqlite_store.search_matches(
            query, limit=50, now=NOW
        ), query
