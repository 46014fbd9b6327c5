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


def test_runs_that_touch_are_glued_and_separators_kept() -> None:
    glue = search_tokens.GLUE
    assert search_tokens.index_tokens("生成AI") == f"生成 成 {glue} ai"
    assert search_tokens.index_tokens("生成 AI") == "生成 成 ai"
    dash = "-".translate(search_tokens._MARKS)
    assert search_tokens.index_tokens("GPT-5") == f"gpt {dash} 5"
    assert search_tokens.match_expression("GPT-5") == f'"gpt {dash} 5"*'


def test_spaced_words_are_an_and_and_together_a_ranking_phrase() -> None:
    assert search_tokens.match_expression("生成 AI") == '"生成" AND "ai"*'
    glue = search_tokens.GLUE
    assert search_tokens.phrase_expression("生成 AI") == f'"生成 成 ai"* OR "生成 成 {glue} ai"*'
    assert search_tokens.phrase_expression("生成AI") is None


def _substring_at_a_word_start(text: str, piece: str) -> bool:
    """The reference for a phrase: `piece` (trimmed of separators) in `text`, starting a word if it starts with one."""
    needle = search_tokens._strip_separators(piece)
    at = text.find(needle)
    while at >= 0:
        if not (
            needle[0].isalnum() and needle[0].isascii() and at and text[at - 1].isascii() and text[at - 1].isalnum()
        ):
            return True
        at = text.find(needle, at + 1)
    return False


@given(st.text(alphabet="生成型AIai5 -・、", max_size=30), st.text(alphabet="生成型AIai5-・、", min_size=1, max_size=8))
def test_a_piece_matches_exactly_the_texts_containing_it(text: str, piece: str) -> None:
    expression = search_tokens.match_expression(piece)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    db.execute("INSERT INTO t VALUES (?)", (search_tokens.index_tokens(text),))
    if expression is None:
        return
    found = bool(db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall())
    assert found == _substring_at_a_word_start(text.casefold(), piece.casefold())
