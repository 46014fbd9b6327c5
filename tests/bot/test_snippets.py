from __future__ import annotations

from bot.content.snippets import snippet


def test_snippet_centres_on_the_hit() -> None:
    text = "前置き。" * 40 + "ここで推論コストが下がる。" + "後書き。" * 40
    out = snippet(text, "推論", width=20)
    assert "推論コスト" in out
    assert out.startswith("…") and out.endswith("…")
    assert len(out) <= 2 * 20 + len("推論") + 2


def test_snippet_matches_case_and_width_insensitively() -> None:
    assert "RAG" in snippet("x " * 100 + "We use RAG here. " + "y " * 100, "ｒａｇ")


def test_snippet_without_hit_is_the_opening() -> None:
    assert snippet("冒頭の文章です。" * 50, "zzz", width=10).startswith("冒頭の文章です。")


def test_snippet_finds_words_that_casefold_to_more_characters() -> None:
    # "ß" folds to "ss" (as query terms are folded); "İ" folds to two characters, which must not shift the window
    assert "Straße" in snippet("x " * 100 + "Die Straße ist lang.", "Straße", width=10)
    out = snippet("İ" * 40 + " filler text" * 3 + "TARGETWORD and more words after it here", "targetword", width=10)
    assert "TARGETWORD" in out
