"""Cleaning and sentence splitting grow linearly with hostile input (issue 14, item 5).

A size-scaled budget measured as a ratio: process time for 8n characters over the time for
n, on the same machine in the same run. Linear is about 8; quadratic about 64. No fixed timeout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content import markdown_blocks as cleaning
from bot.content.cleaning import clean_body
from bot.content.sentences import split_sentences

# Each family repeats a unit that once made some step quadratic (or could).
UNITS = [
    "[",
    "![",
    "[^",
    "[a](",
    "{% raw %}",
    "{%- comment -%}",
    "{{",
    "{%",
    "*",
    "_",
    "`",
    "<",
    "|",
    "$",
    "a. ",
    "1. ",
    "「。",
    "（",
    "あ",
    "- x\n  ",
    "<!--",
    "![a](",
]


def _seconds(work: Callable[[], object]) -> float:
    """The fastest of five runs: one slow run (another process) must not look like growth."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return max(best, 1e-5)


def _growth(unit: str, tail: str, base: int) -> float:
    """time(clean(8n)) / time(clean(n)), n and 8n kept under ~256 KB where allocation is linear too."""
    small = unit * (base // len(unit)) + tail
    large = unit * (8 * base // len(unit)) + tail
    return _seconds(lambda: clean_body(large)) / _seconds(lambda: clean_body(small))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(unit=st.sampled_from(UNITS), tail=st.sampled_from(["", "]", "\n", "%}", "]()", " end"]))
def test_cleaning_grows_linearly_on_repeated_units(unit: str, tail: str) -> None:
    assert _growth(unit, tail, 4_000) <= 16


@pytest.mark.parametrize("unit", ["[", "{% raw %}", "a. ", "「。"])
def test_the_reported_inputs_grow_linearly(unit: str) -> None:
    assert _growth(unit, "]", 4_000) <= 16


@pytest.mark.parametrize(
    ("unit", "tail"),
    [
        ("<!--", ""),  # 10,000 of them took 3.7 s: the lazy comment body reread the rest each time
        ("<!--", "-->"),
        ("<!-- x", " end"),
        ("![a](", ""),  # each image's "(" read the rest of the line looking for ")"
        ("![a](", ")"),
        ("[a](", ""),
        ("[a](", "\n)"),
        ("[a](x", ""),
    ],
)
def test_unclosed_comments_and_link_targets_grow_linearly(unit: str, tail: str) -> None:
    assert _growth(unit, tail, 4_000) <= 16


def test_one_unclosed_comment_before_a_long_body_grows_linearly() -> None:
    small, large = "<!--" + "word " * 2_000, "<!--" + "word " * 16_000
    assert _seconds(lambda: clean_body(large)) / _seconds(lambda: clean_body(small)) <= 16


_OLD_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@settings(max_examples=400)
@given(st.lists(st.sampled_from(["<!--", "-->", "<!-", "->", "-", ">", "a", "\n"]), max_size=12).map("".join))
def test_linear_comment_dropping_matches_re_sub(text: str) -> None:
    assert cleaning._drop_html_comments(text) == _OLD_HTML_COMMENT.sub("", text)


_OLD_LINK = re.compile(r"\[([^\]\n]*)\]\((?:[^()\n]|\([^()\n]*\))*\)")
_OLD_LIQUID = re.compile(r"\{%-?\s*(raw|comment|highlight)\b[^%]*%\}(.*?)\{%-?\s*end\1\s*-?%\}", re.DOTALL)


@settings(max_examples=400)
@given(
    st.lists(st.sampled_from(["[", "]", "(", ")", "!", "^", "a", "\n", "](", "][", "![a]("]), max_size=16).map("".join)
)
def test_linear_link_stripping_matches_re_sub(text: str) -> None:
    for pattern, repl, opener in (
        (cleaning._IMAGE, "", "!["),
        (cleaning._FOOTNOTE, "", "[^"),
        (cleaning._LINK, r"\1", "["),
        (cleaning._REF_LINK, r"\1", "["),
    ):
        assert cleaning._sub_bracketed(pattern, repl, text, opener) == pattern.sub(repl, text)
    for pattern, repl, opener in ((cleaning._IMAGE, "", "!["), (cleaning._LINK, r"\1", "[")):
        assert cleaning._sub_bracketed(pattern, repl, text, opener, paren_tail=True) == pattern.sub(repl, text)
    assert cleaning._sub_bracketed(cleaning._LINK, r"\1", text, "[", paren_tail=True) == _OLD_LINK.sub(r"\1", text)


@settings(max_examples=400)
@given(
    st.lists(
        st.sampled_from(["{% raw %}", "{% endraw %}", "{%- comment -%}", "{% endcomment %}", "{% highlight", " %}"]),
        max_size=10,
    ).map("".join)
)
def test_linear_liquid_blocks_match_the_single_pattern(text: str) -> None:
    expected = _OLD_LIQUID.sub(lambda m: cleaning._liquid_block(m.group(1), m.group(2)), text)
    assert cleaning._replace_liquid_blocks(text) == expected


def test_split_sentences_grows_linearly() -> None:
    for unit in ("a. ", "「。", "（。", "Mr. A. "):
        small, large = unit * 2_000, unit * 16_000
        assert (
            _seconds(lambda large=large: split_sentences(large)) / _seconds(lambda small=small: split_sentences(small))
            <= 16
        ), unit
