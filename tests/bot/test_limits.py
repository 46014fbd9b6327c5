"""Cutting text to Discord's limits: always within the limit, visibly cut, at a clean boundary."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.content import limits


def test_short_text_is_untouched() -> None:
    assert limits.cut("短い", 10) == "短い"


def test_cut_marks_with_ellipsis_and_fits() -> None:
    text = "あ" * 300
    out = limits.cut(text, 256)
    assert len(out) == 256
    assert out.endswith(limits.ELLIPSIS)


def test_cut_prefers_a_sentence_boundary_near_the_end() -> None:
    text = "一文目です。" * 10 + "とても長い二文目" * 20
    out = limits.cut(text, 70)
    assert out.endswith("。…")
    assert len(out) <= 70


def test_cut_english_at_a_word_boundary() -> None:
    out = limits.cut("The quick brown fox jumps over the lazy dog", 20)
    assert out == "The quick brown fox…"


@given(st.text(), st.integers(min_value=0, max_value=5000))
def test_cut_never_exceeds_the_limit(text: str, limit: int) -> None:
    out = limits.cut(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    elif limit > 0:
        assert out.endswith(limits.ELLIPSIS)


def test_joined_keeps_whole_items_and_marks_the_rest() -> None:
    tags = ["`a`", "`bb`", "`ccc`"]
    assert limits.joined(tags, 100) == "`a` `bb` `ccc`"
    assert limits.joined(tags, 9) == "`a` " + limits.ELLIPSIS
    assert limits.joined(["x" * 20], 5) == "xxxx" + limits.ELLIPSIS


WORDS = st.text(alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=30)


@given(st.lists(WORDS, max_size=60), st.integers(min_value=1, max_value=400))
def test_joined_never_exceeds_the_limit_nor_cuts_an_item_it_keeps(items: list[str], limit: int) -> None:
    out = limits.joined(items, limit)
    assert len(out) <= limit
    if out == " ".join(items):
        return
    assert out.endswith(limits.ELLIPSIS)
    if len(items[0]) + 2 > limit:  # not even the first item fits beside the mark: cut as text
        return
    wholes = {" ".join(items[:n]) + " " + limits.ELLIPSIS for n in range(1, len(items))}
    assert out in wholes
