"""On the sample blog, PostgreSQL answers every search, tag, title and /related question as SQLite does.

Both stores are filled by `kiji ingest --db …` from the same sample, as an operator would; then
each question is asked of both through the store's interface and the answers compared whole:
the posts found, their order, whether each matched in its title, and the snippet /search shows.
The queries are the phrase-search cases of tests/bot/content/test_phrase_search.py, words spaced
and glued, prefixes and one-character words, and two characters of every title and tag of the
sample (so the set grows with the sample, not with this file).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from postgres_server import create_database_now, drop_database_now

from bot.content.snippets import snippet
from bot.store import KijiStore, open_store

REPO = Path(__file__).resolve().parents[3]
FIXED_QUERIES = (
    "生成AI", "GPT-5", "Llama4", "AIエージェント", "生成 AI", "Llama 4", "ＧＰＴ－５", "gpt-5", "AI", "ai",
    "推論", "rag", "の", "は の", "a AND b", "エージェント 推論", "open", "モデル", "LLM", "2024", "コスト 推論 AI",
    "Claude", "画像 生成", "x", "zzzz-not-there",
)  # fmt: skip


def kiji(*args: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=REPO, env=environment, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def filled(
    corpus_site: Path, postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(SQLite URL, PostgreSQL URL) of two stores holding the sample, each ingested by `kiji ingest`."""
    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('parity') / 'kiji.sqlite3'}"
    name = f"kiji_parity_{os.getpid()}"
    postgres_url = create_database_now(postgres_admin_url, name)
    try:
        for url in (sqlite_url, postgres_url):
            kiji("ingest", "--site", str(corpus_site), "--db", url)
        yield sqlite_url, postgres_url
    finally:
        drop_database_now(postgres_admin_url, name)


@pytest_asyncio.fixture
async def stores(filled: tuple[str, str]) -> AsyncIterator[tuple[KijiStore, KijiStore]]:
    sqlite_store = await open_store(filled[0], create=False)
    postgres_store = await open_store(filled[1], create=False)
    try:
        yield sqlite_store, postgres_store
    finally:
        await sqlite_store.close()
        await postgres_store.close()


async def _queries(store: KijiStore) -> list[str]:
    found = list(FIXED_QUERIES)
    found += [title[:2] for _, title in await store.titles()]
    found += [tag.name[:2] for tag in await store.tags()]
    return list(dict.fromkeys(q for q in found if q.strip()))


async def _answers(store: KijiStore, query: str) -> list[tuple[str, bool, str]]:
    hits = await store.search(query, limit=1000)
    texts = await store.texts([hit.post.id for hit in hits])
    return [(hit.post.path, hit.in_title, snippet(texts.get(hit.post.id, ""), query)) for hit in hits]


async def test_the_sample_and_its_ids_are_the_same_in_both(stores: tuple[KijiStore, KijiStore]) -> None:
    sqlite_store, postgres_store = stores
    posts = await sqlite_store.all_posts()
    assert len(posts) > 50
    assert await postgres_store.all_posts() == posts


async def test_every_query_finds_the_same_posts_in_the_same_order_with_the_same_snippets(
    stores: tuple[KijiStore, KijiStore],
) -> None:
    sqlite_store, postgres_store = stores
    queries = await _queries(sqlite_store)
    assert len(queries) > 60
    differing = {}
    found_something = 0
    for query in queries:
        expected = await _answers(sqlite_store, query)
        found_something += bool(expected)
        got = await _answers(postgres_store, query)
        if got != expected:
            differing[query] = (expected, got)
    assert found_something > len(queries) // 2
    assert differing == {}


async def test_queries_past_the_ranking_limit_list_the_same_groups_newest_first(
    stores: tuple[KijiStore, KijiStore],
) -> None:
    """With `ranked_search_max` lowered, common words take the unranked path on both, in the same order."""
    sqlite_store, postgres_store = stores
    sqlite_store.ranked_search_max = postgres_store.ranked_search_max = 3
    unranked = 0
    for query in await _queries(sqlite_store):
        expected = await sqlite_store.search_matches(query, limit=20)
        unranked += len(expected) > 3
        assert await postgres_store.search_matches(query, limit=20) == expected, query
    assert unranked > 10


async def test_tags_titles_and_related_posts_are_the_same(stores: tuple[KijiStore, KijiStore]) -> None:
    sqlite_store, postgres_store = stores
    tags = await sqlite_store.tags()
    assert tags and await postgres_store.tags() == tags
    for tag in tags:
        for spelling in (tag.name, tag.name.upper()):
            assert await postgres_store.tag_by_key(spelling) == await sqlite_store.tag_by_key(spelling)
            assert await postgres_store.posts_by_tag(spelling, 100) == await sqlite_store.posts_by_tag(spelling, 100)
            assert await postgres_store.count_posts_by_tag(spelling) == await sqlite_store.count_posts_by_tag(spelling)
    assert await postgres_store.titles() == await sqlite_store.titles()
    assert await postgres_store.latest_titles(25) == await sqlite_store.latest_titles(25)
    for needle in ("AI", "の", "ｇｐｔ", "%", "_", "Llama 4", ""):
        assert await postgres_store.search_titles(needle, 25) == await sqlite_store.search_titles(needle, 25), needle
    for post in await sqlite_store.all_posts():
        related = [p.path for p in await sqlite_store.related_candidates(post.id)]
        assert [p.path for p in await postgres_store.related_candidates(post.id)] == related
        assert await postgres_store.get_text_and_outline(post.id) == await sqlite_store.get_text_and_outline(post.id)
