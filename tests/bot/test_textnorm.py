"""bot.content.textnorm.nfkc must be exactly unicodedata's NFKC, only faster."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content.textnorm import nfkc, normalize_key

# Stable characters next to ones NFKC changes or composes: full-width forms, half-width
# katakana with their sound marks, combining sound marks after kana, Hangul jamo, accents.
_TRICKY = [
    *"かアー、。「」漢aZ 1\n",
    *("\u3099", "\u309a", "ｶ", "ﾞ", "ﾟ", "（", "！", "Ａ", "①", "㈱"),
    *("\u1100", "\u1161", "\u11a8", "e", "\u0301", "ﬁ", "Ⅻ"),
]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(_TRICKY), max_size=60))
def test_nfkc_matches_unicodedata_around_the_runs_it_normalises(text: str) -> None:
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_nfkc_matches_unicodedata_on_any_text(text: str) -> None:
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_sound_marks_join_the_kana_before_them() -> None:
    assert nfkc("か\u3099ｶﾞ（ＡＩ）") == "がガ(AI)"
    assert normalize_key(" ＡＩ ") == normalize_key("ai") == "ai"
