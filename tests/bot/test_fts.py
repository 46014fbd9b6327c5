"""The search tokeniser: the same tokens for indexing and querying; user text never becomes syntax."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from bot.content import search_tokens


def test_cjk_becomes_bigrams_and_words_stay_whole() -> None:
    assert search_tokens.index_tokens("推論コスト RAGs") == "推論 論コ コス スト ト rags"


def test_width_and_case_fold() -> None:
    assert search_tokens.index_tokens("ＡＩ ｺｽﾄ") == search_tokens.index_tokens("ai コスト")


def test_two_character_queries_have_an_expression() -> None:
    assert search_tokens.match_expression("AI") == '"ai"*'
    assert search_tokens.match_expression("推論") == '"推論"'


def test_operators_are_quoted_terms() -> None:
    assert search_tokens.match_expression("a AND b") == '"a"* AND "and"* AND "b"*'


def test_punctuation_only_query_has_no_expression() -> None:
    assert search_tokens.match_expression('"*()^') is None


@given(st.text(max_size=60))
def test_any_query_is_valid_fts5(query: str) -> None:
    expression = search_tokens.match_expression(query)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    db.execute("INSERT INTO t VALUES (?)", (search_tokens.index_tokens("ordinary text 日本語の本文"),))
    if expression is not None:
        db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()
