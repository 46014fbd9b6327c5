"""The compiled tokeniser gives exactly the Python one's tokens: on every sample post and on random text.

The reference is `search_tokens._index_tokens_python`, the implementation the index was built
with before; the compiled module is what `index_tokens` runs when `make` could build it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content import search_tokens
from bot.content.cleaning import clean_body
from bot.content.textnorm import fold
from bot.sources.post_files import find_post_files
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site

native = pytest.importorskip(
    "bot.content._search_tokens_c", reason="the compiled tokeniser is not built (run `make`, which builds it)"
)
compiled = native.index_tokens_folded
reference = search_tokens._index_tokens_python


def test_index_tokens_runs_the_compiled_tokeniser() -> None:
    assert search_tokens.NATIVE
    assert search_tokens._index_tokens_folded is compiled


def test_identical_on_every_sample_post(corpus_site: Path) -> None:
    site = load_site(corpus_site)
    texts = []
    for abs_path, rel_path in find_post_files(site):
        parsed = parse_post(Path(abs_path).read_bytes(), rel_path, site)
        texts += [parsed.title, parsed.body, clean_body(parsed.body, parsed.title).search_text]
    assert len(texts) == 3 * 61
    for text in texts:
        folded = fold(text)
        assert compiled(folded) == reference(folded)


# Every class the tokeniser tells apart, and the edges of its ranges: kana and their marks,
# kanji, Hangul, astral CJK, Latin, digits, "_", whitespace of several kinds, separators,
# private-use marks, combining marks, emoji, lone surrogates.
_ALPHABET = st.sampled_from(
    list("あアー・ゝゞ゛゜゠々〇〡〸〼漢字生成한글ᄀㄱAaZz09_ -・/.,、。「」\t\n\u3000\xa0\u2028")
    + ["\U00020000", "\U0002fa1f", "\U0002fa20", "\U0001f600", "\U000f0000", "\U0010fffd", "\u0301", "\ud800"]
    + [chr(c) for c in (0x3004, 0x3006, 0x3008, 0x3020, 0x302A, 0x3037, 0x303D, 0x303F, 0x3099, 0x309A, 0x309C)]
    + [chr(c) for c in (0x30A0, 0x30FB, 0x33FF, 0x4DC0, 0x9FFF, 0xA000, 0xF8FF, 0xFB00, 0xABFF, 0xD7B0, 0x10FF)]
    + [chr(c) for c in (0x1200, 0x312F, 0x3190, 0xFFFE, 0xFFFF, 0x10000, 0x1FFFF, 0xFF21, 0x0660, 0x00B2)]
)


@settings(max_examples=500, deadline=None)
@given(st.text(_ALPHABET, max_size=80))
def test_identical_on_random_text_of_every_class(text: str) -> None:
    assert compiled(text) == reference(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_identical_on_any_text(text: str) -> None:
    assert compiled(text) == reference(text)
    folded = fold(text)
    assert compiled(folded) == reference(folded)


def test_rejects_what_is_not_text() -> None:
    with pytest.raises(TypeError):
        compiled(b"bytes")
