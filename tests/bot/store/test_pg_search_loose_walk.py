"""Unranked searches over many posts past tsvector's limits answer as SQLite's, page by page.

On PostgreSQL such posts are checked newest first and only until each group of the unranked
answer is full (`search_loose.LooseWalk`). Sixty long posts (every body word far past a lexeme's
256 positions; titles, phrases and dates mixed, a few not visible yet) and a few short ones are
written to both stores; each query is asked at several page sizes and ranking limits, so that
both ways to the unranked path (the exact posts alone past the limit, or only with the long
ones) are taken, and the answers must be SQLite's, in the same order, with the same title flags.
"""

from __future__ import annotations

import random
from pathlib import Path

import asyncpg
from factories import NOW, record

from bot.store import open_store

WORDS = ["alpha", "beta", "gamma", "生成", "モデル"]


def _posts() -> list:
    rng = random.Random(3)
    posts = []
    for n in range(60):
        body = " ".join(rng.choice(WORDS[: 2 + n % 4]) for _ in range(1500))  # each word 300-750 times
        title = " ".join(rng.sample(WORDS, 1 + n % 3))
        date = NOW + 86_400 if n % 13 == 5 else NOW - 3600 * rng.randint(1, 100)  # a few in the future
        posts.append(record(f"long-{n}", title, body, date_utc=date))
    posts += [record(f"short-{n}", f"{w} short", f"a short {w} body gamma") for n, w in enumerate(WORDS)]
    return posts


QUERIES = [
    *WORDS,
    "alp",
    "生",
    "alpha beta",
    '"alpha beta"',
    "beta alpha gamma",
    '"gamma gamma"',
    "生成モデル",
    "モデル alpha",
    "short",
    "delta",
]


async def test_unranked_pages_over_long_posts_are_sqlites(tmp_path: Path, postgres_url: str) -> None:
    sqlite_store = await open_store(tmp_path / "kiji.sqlite3")
    postgres_store = await open_store(postgres_url)
    try:
        for store in (sqlite_store, postgres_store):
            await store.write_batch(_posts(), now=NOW)
        connection = await asyncpg.connect(postgres_url)
        try:
            assert await connection.fetchval("SELECT count(*) FROM post_search WHERE NOT exact") == 60
        finally:
            await connection.close()
        unranked = 0
        for ranked_max in (1, 8, 2000):
            sqlite_store.ranked_search_max = postgres_store.ranked_search_max = ranked_max
            for query in QUERIES:
                for limit in (1, 3, 10, 100):
                    expected = await sqlite_store.search_matches(query, limit=limit, now=NOW)
                    assert await postgres_store.search_matches(query, limit=limit, now=NOW) == expected, (
                        query,
                        limit,
                        ranked_max,
                    )
                    unranked += ranked_max < 2000 and len(expected) == limit
        assert unranked > 40  # full pages on the unranked path, at every page size
    finally:
        await postgres_store.close()
        await sqlite_store.close()
