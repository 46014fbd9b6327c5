"""The store on a real SQLite file: migrations, tags, search, scheduled posts."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import aiosqlite
import asyncpg
import pytest
from factories import NOW, record

from bot.store.database import MIGRATIONS, Store, StoreError
from bot.store.meta import set_meta


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here that takes `store` runs on a SQLite file and on a PostgreSQL database."""
    return both_backends


async def test_open_creates_schema_at_latest_version_with_wal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "kiji.sqlite3"
    s = await Store.open(path)
    assert await s.schema_version() == len(MIGRATIONS)
    await s.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "kiji.sqlite3"
    s = await Store.open(path)
    await s.write_batch([record("a", "Title A", "body")], now=NOW)
    await s.close()
    s = await Store.open(path)
    assert [p.title for p in await s.all_posts()] == ["Title A"]
    await s.close()


async def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "kiji.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer than this Kiji understands"):
        await Store.open(path)


async def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot"):
        await Store.open(blocker / "kiji.sqlite3")


async def test_tags_merge_across_width_and_case(store: Store) -> None:
    await store.write_batch(
        [
            record("a", "A", "x", tags=("AI", "LLM")),
            record("b", "B", "y", tags=("ａｉ",)),
            record("c", "C", "z", tags=("ai", "ai")),
        ],
        now=NOW,
    )
    tags = {t.key: t.count for t in await store.tags(now=NOW)}
    assert tags == {"ai": 3, "llm": 1}
    assert await store.tag_by_key("Ａｉ") == "AI"
    assert {p.path for p in await store.posts_by_tag("ＡＩ", 10, now=NOW)} == {"a", "b", "c"}
    assert (await store.get_post_by_path("c")).tags == ("AI",)  # the first spelling is the display name


async def test_posts_by_tag_newest_first(store: Store) -> None:
    await store.write_batch(
        [
            record("old", "Old", "x", tags=("t",), date_utc=NOW - 300),
            record("new", "New", "x", tags=("t",), date_utc=NOW - 100),
            record("mid", "Mid", "x", tags=("t",), date_utc=NOW - 200),
        ],
        now=NOW,
    )
    assert [p.path for p in await store.posts_by_tag("T", 10, now=NOW)] == ["new", "mid", "old"]
    assert [p.path for p in await store.posts_by_tag("t", 1, offset=1, now=NOW)] == ["mid"]
    assert await store.count_posts_by_tag("t", now=NOW) == 3


async def test_scheduled_posts_are_stored_but_not_served_until_due(store: Store) -> None:
    await store.write_batch(
        [record("future", "Future post", "未来 text", tags=("t",), date_utc=NOW + 3600)],
        now=NOW,
    )
    assert [p.path for p in await store.all_posts()] == ["future"]
    assert (await store.all_posts())[0].scheduled(now=NOW)
    assert await store.latest(5, now=NOW) == []
    assert await store.posts_by_tag("t", 5, now=NOW) == []
    assert await store.search("未来", now=NOW) == []
    assert [p.path for p in await store.latest(5, now=NOW + 7200)] == ["future"]
    assert [h.post.path for h in await store.search("未来", now=NOW + 7200)] == ["future"]


async def test_update_replaces_tags_and_search_text(store: Store) -> None:
    await store.write_batch([record("a", "A", "old words here", tags=("old",))], now=NOW)
    added, updated, removed = await store.write_batch([record("a", "A", "fresh words", tags=("new",))], now=NOW)
    assert (added, updated, removed) == (0, 1, 0)
    assert await store.search("old", now=NOW) == []
    assert [h.post.path for h in await store.search("fresh", now=NOW)] == ["a"]
    assert {t.key for t in await store.tags(now=NOW)} == {"new"}


async def test_remove_deletes_post_index_and_orphan_tags(store: Store) -> None:
    await store.write_batch([record("a", "A", "unique word", tags=("lonely",)), record("b", "B", "x")], now=NOW)
    assert await store.write_batch(removals=["a", "missing"], now=NOW) == (0, 0, 1)
    assert await store.search("unique", now=NOW) == []
    assert await store.tag_by_key("lonely") is None
    assert [p.path for p in await store.all_posts()] == ["b"]


async def test_failed_batch_leaves_nothing_behind(store: Store) -> None:
    good = record("good", "Good", "x", tags=("kept?",))
    bad = replace(record("bad", "Bad", "x"), date_iso=None)  # violates NOT NULL mid-batch
    with pytest.raises((sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)):
        await store.write_batch([good, bad], now=NOW)
    assert await store.all_posts() == []
    assert await store.file_states() == {}
    assert await store.tags(now=NOW) == []


class TestSearch:
    @pytest.fixture
    async def corpus(self, store: Store) -> Store:
        await store.write_batch(
            [
                record("rag", "RAGの基礎", "検索拡張生成 (RAG) はLLMに外部知識を与える。RAGs are popular."),
                record("storage", "Storage costs", "Cloud storage pricing for AI workloads and 推論 servers."),
                record("infer", "推論コストの削減", "モデルの推論コストを下げる方法。AI chips help."),
                record("body-ai", "Chips", 'This text mentions AI only in the body and NEAR ( quotes " here.'),
            ],
            now=NOW,
        )
        return store

    async def hits(self, store: Store, query: str) -> list[str]:
        return [h.post.path for h in await store.search(query, now=NOW)]

    async def test_latin_word_prefix_not_substring(self, corpus: Store) -> None:
        assert await self.hits(corpus, "rag") == ["rag"]
        assert "storage" not in await self.hits(corpus, "rag")
        assert await self.hits(corpus, "RAGs") == ["rag"]

    async def test_two_character_queries(self, corpus: Store) -> None:
        assert set(await self.hits(corpus, "AI")) == {"storage", "infer", "body-ai"}
        assert set(await self.hits(corpus, "推論")) == {"storage", "infer"}

    async def test_japanese_substring_anywhere(self, corpus: Store) -> None:
        assert await self.hits(corpus, "拡張生") == ["rag"]
        assert await self.hits(corpus, "コストを下げ") == ["infer"]
        assert await self.hits(corpus, "ｺｽﾄ") == ["infer"]  # half-width katakana folds to full width

    async def test_title_matches_rank_first(self, corpus: Store) -> None:
        results = await corpus.search("推論", now=NOW)
        assert results[0].post.path == "infer"
        assert results[0].in_title and not results[1].in_title

    @pytest.mark.parametrize(
        ("hostile", "expected"),
        [
            ('"', set()),
            ("*", set()),
            ("(", set()),
            ("^", set()),
            ("-", set()),
            ("{}", set()),
            ("title:", set()),
            ('" OR "', set()),
            ("AND", {"storage", "body-ai"}),  # a word like any other: "and" appears in two bodies
            ("NEAR(", {"body-ai"}),
            ('"ai" OR "rag"', set()),  # not an OR query: all of ai, or, rag are required
        ],
    )
    async def test_hostile_input_is_text(self, corpus: Store, hostile: str, expected: set[str]) -> None:
        assert set(await self.hits(corpus, hostile)) == expected

    async def test_keyword_like_words_search_as_words(self, corpus: Store) -> None:
        assert await self.hits(corpus, "NEAR") == ["body-ai"]
        assert await self.hits(corpus, "near (") == ["body-ai"]

    async def test_many_matches_skip_ranking_but_keep_title_matches_first(self, corpus: Store) -> None:
        ranked = [h.post.path for h in await corpus.search("AI", now=NOW)]
        corpus.ranked_search_max = 1  # "AI" matches 3 posts: take the unranked path
        unranked = await corpus.search("AI", now=NOW)
        assert {h.post.path for h in unranked} == set(ranked)
        assert [h.in_title for h in unranked] == sorted((h.in_title for h in unranked), reverse=True)
        assert (await corpus.search("推論", now=NOW))[0].post.path == "infer"  # a title match, unranked path
        assert len(await corpus.search("AI", limit=2, now=NOW)) == 2

    async def test_all_terms_required(self, corpus: Store) -> None:
        assert await self.hits(corpus, "storage 推論") == ["storage"]
        assert await self.hits(corpus, "storage RAG") == []


async def test_search_titles_is_substring_and_width_insensitive(store: Store) -> None:
    await store.write_batch([record("a", "OpenAIの新モデル", "x"), record("b", "Other", "y")], now=NOW)
    assert [t for _, t in await store.search_titles("ｏｐｅｎａｉ", 25, now=NOW)] == ["OpenAIの新モデル"]
    assert await store.search_titles("%", 25, now=NOW) == []


async def test_meta_round_trip(store: Store) -> None:
    assert await store.get_meta("k") is None
    await store.set_meta("k", "v1")
    await store.set_meta("k", "v2")
    assert await store.get_meta("k") == "v2"
    await store.finish_ingest(now=time.time())
    assert float(await store.get_meta("last_ingest_at") or 0) > 0


async def test_concurrent_readers_never_see_half_a_batch(store: Store) -> None:
    """One connection is shared by every task; a read must not land inside another task's transaction."""
    batch = [record(f"p{i}", f"P{i}", "本文", tags=("t",)) for i in range(200)]
    seen: list[int] = []

    async def reader() -> None:
        for _ in range(20):
            seen.append(len(await store.all_posts()))

    await asyncio.gather(store.write_batch(batch, now=NOW), reader(), reader())
    assert set(seen) <= {0, 200}, sorted(set(seen))


async def test_a_middle_dot_or_sound_mark_in_a_query_does_not_empty_the_results(store: Store) -> None:
    """FTS5 splits tokens at ・ and ゛: as one-character phrases of their own they matched nothing."""
    await store.write_batch([record("a", "AI・IoTの最新動向", "本文です。"), record("b", "Other", "x")], now=NOW)
    for query in ("AI・IoTの最新動向", "AI・IoT", "AI・", "・IoT", "IoT ゛"):
        assert [h.post.path for h in await store.search(query, now=NOW)] == ["a"], query


async def test_odd_input_reaches_title_and_tag_lookups_as_text(store: Store) -> None:
    await store.write_batch([record("a", "RAGの基礎", "x", tags=("AI",))], now=NOW)
    assert [t for _, t in await store.search_titles("rag \udfff", 10, now=NOW)] == ["RAGの基礎"]
    assert await store.posts_by_tag("\ud800", 10, now=NOW) == []
    assert [p.path for p in await store.posts_by_tag("AI\ud800", 10, now=NOW)] == ["a"]
    assert await store.tag_by_key("\udfff") is None
    assert await store.search_titles("推論" * 30_000, 10, now=NOW) == []


async def start_held_write(store: Store) -> tuple[asyncio.Future[None], asyncio.Event]:
    """A write on the store's one writer whose body, inside its transaction, waits for the returned event."""
    running = asyncio.Event()
    release = asyncio.Event()

    async def hold(connection: aiosqlite.Connection) -> None:
        await set_meta(connection, "held", "yes")
        running.set()
        await release.wait()

    holding = asyncio.ensure_future(store.database.write(hold))
    await running.wait()
    return holding, release


@pytest.mark.sqlite_only("holds the writer with an aiosqlite coroutine")
async def test_a_write_cancelled_before_the_writer_takes_it_never_runs_and_the_store_stays_writable(
    store: Store,
) -> None:
    holding, release = await start_held_write(store)
    try:
        writing = asyncio.ensure_future(store.write_batch([record("n", "N", "y")], now=NOW))
        asyncio.get_running_loop().call_soon(writing.cancel)
        with pytest.raises(asyncio.CancelledError):
            await writing
    finally:
        release.set()
    await holding
    assert await store.write_batch([record("m", "M", "z")], now=NOW) == (1, 0, 0)
    assert [p.path for p in await store.all_posts()] == ["m"]
    assert await store.get_meta("held") == "yes"  # the write that held the writer committed


@pytest.mark.sqlite_only("holds the writer with an aiosqlite coroutine")
async def test_a_write_cancelled_between_its_statements_is_rolled_back_and_the_store_stays_writable(
    store: Store,
) -> None:
    holding, _ = await start_held_write(store)
    holding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holding
    assert await store.write_batch([record("m", "M", "z")], now=NOW) == (1, 0, 0)
    assert [p.path for p in await store.all_posts()] == ["m"]
    assert await store.get_meta("held") is None


@pytest.mark.sqlite_only("holds the writer with an aiosqlite coroutine")
async def test_a_write_cancelled_while_a_statement_runs_is_rolled_back_after_it(store: Store) -> None:
    """The statement goes on running on the writer's thread after its caller gave up: the rollback must follow it."""
    loop = asyncio.get_running_loop()
    in_statement = asyncio.Event()
    release = threading.Event()

    def blocking_value() -> int:  # called by SQLite on the writer's thread, inside the statement
        loop.call_soon_threadsafe(in_statement.set)
        release.wait()
        return 1

    async def write_through_a_slow_statement(connection: aiosqlite.Connection) -> None:
        await connection.create_function("blocking_value", 0, blocking_value)
        await set_meta(connection, "before", "yes")
        await connection.execute("INSERT INTO meta (key, value) SELECT 'during', blocking_value()")

    writing = asyncio.ensure_future(store.database.write(write_through_a_slow_statement))
    await in_statement.wait()
    writing.cancel()
    loop.call_soon(release.set)  # after the task took the cancellation: its rollback is queued behind the statement
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert await store.write_batch([record("m", "M", "z")], now=NOW) == (1, 0, 0)
    assert (await store.get_meta("before"), await store.get_meta("during")) == (None, None)
    assert [p.path for p in await store.all_posts()] == ["m"]


async def test_a_tag_counts_and_draws_only_visible_posts_of_the_blog_asked_for(store: Store) -> None:
    first = await store.register_source("first", "first blog")
    second = await store.register_source("second", "second blog")
    await store.write_batch(
        [record("a", "A", "x", tags=("t",)), record("due-later", "Later", "x", tags=("t",), date_utc=NOW + 3600)],
        now=NOW,
        source_id=first,
    )
    await store.write_batch([record(f"b{i}", f"B{i}", "x", tags=("T",)) for i in range(3)], now=NOW, source_id=second)
    assert await store.count_posts_by_tag("t", now=NOW) == 4
    assert await store.count_posts_by_tag("t", now=NOW, source_id=first) == 1
    assert await store.count_posts_by_tag("t", now=NOW, source_id=second) == 3
    assert await store.count_posts_by_tag("t", now=NOW + 7200, source_id=first) == 2
    drawn_first = {(await store.random_post("t", now=NOW, source_id=first)).path for _ in range(20)}
    assert drawn_first == {"a"}
    drawn = {(await store.random_post("t", now=NOW)).path for _ in range(60)}
    assert drawn <= {"a", "b0", "b1", "b2"} and len(drawn) >= 2  # never the scheduled one; not always the same
    assert await store.random_post("nothing", now=NOW) is None


async def test_posts_by_ids_keeps_the_order_asked_and_leaves_out_removed_posts(store: Store) -> None:
    await store.write_batch([record(name, name.upper(), "x", tags=("t",)) for name in ("a", "b", "c")], now=NOW)
    ids = {name: (await store.get_post_by_path(name)).id for name in ("a", "b", "c")}
    assert [p.path for p in await store.posts_by_ids([ids["c"], ids["a"], ids["b"]])] == ["c", "a", "b"]
    await store.write_batch(removals=["a"], now=NOW)
    found = await store.posts_by_ids([ids["c"], ids["a"], ids["b"]])
    assert [p.path for p in found] == ["c", "b"] and found[0].tags == ("t",)


async def test_file_states_are_what_was_stored_and_untracked_by_the_garbage_collector(store: Store) -> None:
    await store.write_batch([record("a", "A", "x"), record("b", "B", "y")], now=NOW)
    states = await store.file_states()
    assert len(states) == 2 and set(states) == {"a", "b"} and "a" in states and "c" not in states
    assert states["a"] == record("a", "A", "x").file
    gc.collect()
    assert not any(gc.is_tracked(value) for value in states._states.values())  # the point of FileStates


@pytest.mark.parametrize("ranked_max", [2000, 1])  # ranked by bm25, and the newest-first groups past the cap
async def test_search_matches_are_the_ids_and_title_flags_of_search_in_its_order(store: Store, ranked_max: int) -> None:
    await store.write_batch(
        [
            record("t", "生成AIの入門", "本文には関係のない話。"),
            record("b", "別の題", "生成AIの話を本文でする。生成 AI とも書く。"),
            record("c", "三つ目", "AIと生成は離れている。"),
            record("later", "生成AI予告", "生成AIの記事。", date_utc=NOW + 3600),
        ],
        now=NOW,
    )
    store.ranked_search_max = ranked_max
    for query in ("生成AI", "生成 AI", "AI", "話"):
        hits = await store.search(query, 10, now=NOW)
        assert hits, query
        assert await store.search_matches(query, 10, now=NOW) == [(h.post.id, h.in_title) for h in hits], query
        assert "later" not in {h.post.path for h in hits}
