"""No query can make the search index do unbounded work (issue 14, item 6).

Work is counted, not timed: SQLite calls a progress handler every N virtual-machine
instructions, so the number of calls is the work a MATCH did, the same on any machine.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.content import search_tokens
from bot.content.search_tokens import MAX_QUERY_PHRASES, match_expression


def _phrases(expression: str | None) -> int:
    return 0 if expression is None else len(expression.split(" AND "))


HOSTILE = {
    "の ×100": " ".join(["の"] * 100),
    "100 different kana": " ".join(chr(0x3041 + i) for i in range(80)),
    "20,000 words": " ".join(f"word{i}" for i in range(20_000)),
    "one long CJK run": "生成" * 5_000,
    "a ×20,000": " ".join(["a"] * 20_000),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_queries_have_a_bounded_expression(name: str) -> None:
    expression = match_expression(HOSTILE[name])
    assert 1 <= _phrases(expression) <= MAX_QUERY_PHRASES
    assert expression is not None and len(expression) < 40 * MAX_QUERY_PHRASES * search_tokens.MAX_PHRASE_TOKENS


def test_repeats_count_once_and_order_is_kept() -> None:
    assert match_expression("推論 AI 推論 ai") == '"推論" AND "ai"*'


def test_one_character_words_beyond_the_first_two_are_left_out() -> None:
    assert match_expression("の は が 推論") == '"の"* AND "は"* AND "推論"'


def test_a_one_character_query_still_matches() -> None:
    assert match_expression("車") == '"車"*'


@pytest.fixture(scope="module")
def corpus_index(corpus_site: Path) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    for path in sorted((corpus_site / "_posts").glob("*.md")):
        db.execute("INSERT INTO t VALUES (?)", (search_tokens.index_tokens(path.read_text(encoding="utf-8")),))
    return db


def _work(db: sqlite3.Connection, query: str) -> tuple[int, int]:
    """(progress-handler calls, rows) for one MATCH: the work SQLite did, as a count."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    db.set_progress_handler(count, 1_000)
    try:
        expression = match_expression(query)
        rows = db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall() if expression else []
    finally:
        db.set_progress_handler(None, 1_000)
    return steps[0] + 1, len(rows)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_queries_cost_a_bounded_multiple_of_a_normal_one(corpus_index: sqlite3.Connection, name: str) -> None:
    normal, normal_rows = _work(corpus_index, "の 推論")
    hostile, _ = _work(corpus_index, HOSTILE[name])
    assert normal_rows > 0
    # 16 phrases at most, each no costlier than a one-character prefix: a small multiple.
    assert hostile <= 20 * normal, (name, hostile, normal)


def test_normal_queries_keep_their_recall(corpus_index: sqlite3.Connection) -> None:
    for query in ("AI", "推論", "エージェント", "生成 AI"):
        assert _work(corpus_index, query)[1] > 0, query
