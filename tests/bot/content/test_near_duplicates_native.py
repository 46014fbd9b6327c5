"""The compiled deduper gives exactly the Python one's blocks: on every sample post, on varied copies, on made-up posts.

The reference is `near_duplicates._dedupe_python`, the deduper posts were cleaned with before; the
compiled module is what `dedupe` runs when `make` could build it. "Exactly" is element by element
(`Raw` is a dataclass: kind, text, level, bold_only, link_only, finished) and, where the Python
deduper hands back a block it was given, the compiled one hands back that same object. The module's
own `sentence_pieces`, which the compiled deduper runs, is held to `sentences.sentence_pieces` too.
"""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.ingest_speed import _vary_body
from bot.content import cleaning, near_duplicates, sentences
from bot.content.markdown_blocks import Raw, prepass, scan_blocks
from bot.content.prose_filter import drop_prompt_and_chatter, rejoin_cut_sentences
from bot.content.sentences import sentence_pieces
from bot.content.textnorm import fold
from bot.sources.post_files import find_post_files
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site

native = pytest.importorskip(
    "bot.content._near_duplicates_c", reason="the compiled deduper is not built (run `make`, which builds it)"
)
reference = near_duplicates._dedupe_python


def compiled(raws: list[Raw]) -> list[Raw]:
    return near_duplicates.dedupe(raws)


def assert_identical(raws: list[Raw]) -> None:
    expected = reference(raws)
    got = compiled(raws)
    assert got == expected
    # the blocks passed through are the very objects given, in both; the others are new Raws
    given_at = {id(raw): index for index, raw in enumerate(raws)}
    assert [given_at.get(id(raw)) for raw in got] == [given_at.get(id(raw)) for raw in expected]


def test_dedupe_runs_the_compiled_deduper() -> None:
    assert near_duplicates.NATIVE
    assert near_duplicates._dedupe_c is native.dedupe


def test_the_compiled_constants_are_the_python_ones() -> None:
    constants = dict(native.CONSTANTS)
    particles = constants.pop("particles")
    sentence_rules = {name: constants.pop(name) for name in ("OPENERS", "CLOSERS", "_LONGEST_WORD")}
    assert sentence_rules == {name: getattr(sentences, name) for name in sentence_rules}
    assert frozenset(constants.pop("_ABBREVIATIONS")) == sentences._ABBREVIATIONS
    assert constants == {name: getattr(near_duplicates, name) for name in constants}
    assert near_duplicates._ANCHORED_SHINGLES.pattern == f"[{particles}](?=(...))"


def test_the_key_strip_is_re_s_over_all_of_unicode() -> None:
    """`dedup_key` strips in C what `[\\s\\W_]+` matches: every code point, surrogates included."""
    everything = "".join(map(chr, range(0x110000)))
    assert native.dedup_strip(everything) == near_duplicates._DEDUP_STRIP.sub("", everything)
    assert native.dedup_strip("") == ""


def _sample_posts(site_dir: Path) -> list[tuple[str, str | None]]:
    site = load_site(site_dir)
    posts = []
    for abs_path, rel_path in find_post_files(site):
        parsed = parse_post(Path(abs_path).read_bytes(), rel_path, site)
        posts.append((parsed.body, parsed.title))
    assert len(posts) == 61
    return posts


def _raws_before_dedupe(body: str) -> list[Raw]:
    """What `cleaning._clean` hands `dedupe`."""
    raws = list(scan_blocks(prepass(body).split("\n"), []))
    return rejoin_cut_sentences(drop_prompt_and_chatter(raws))


@pytest.fixture(scope="module")
def sample_posts(corpus_site: Path) -> list[tuple[str, str | None]]:
    return _sample_posts(corpus_site)


def test_identical_on_every_sample_post(sample_posts: list[tuple[str, str | None]]) -> None:
    dropped = 0
    for body, _title in sample_posts:
        raws = _raws_before_dedupe(body)
        assert_identical(raws)
        dropped += len(raws) - len(reference(raws))
    assert dropped > 100  # the sample has real repeats for both to remove


def test_identical_on_varied_copies(sample_posts: list[tuple[str, str | None]]) -> None:
    """Copies as bench/ingest_speed makes them; and a post followed by a copy, all its blocks near-repeats."""
    for body, _title in sample_posts:
        original = _raws_before_dedupe(body)
        for copy in range(4):
            varied = _raws_before_dedupe(_vary_body(body, copy))
            assert_identical(varied)
            assert_identical(original + varied)


def test_clean_body_identical_with_either_deduper(
    sample_posts: list[tuple[str, str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cleaning.dedupe is near_duplicates.dedupe  # which runs the compiled deduper (first test)
    with_compiled = [cleaning.clean_body(body, title) for body, title in sample_posts]
    monkeypatch.setattr(cleaning, "dedupe", reference)
    with_python = [cleaning.clean_body(body, title) for body, title in sample_posts]
    assert with_compiled == with_python


def test_sentence_pieces_identical_on_every_sample_text(sample_posts: list[tuple[str, str | None]]) -> None:
    """Whole bodies, their lines, and the blocks the deduper sees (which it splits)."""
    for body, _title in sample_posts:
        for copy in (None, 0, 1):
            varied = body if copy is None else _vary_body(body, copy)
            for text in [varied, *varied.split("\n"), *(raw.text for raw in _raws_before_dedupe(varied))]:
                assert native.sentence_pieces(text) == sentences.sentence_pieces(text)


# What the sentence rules look at: terminators of both widths, brackets and quotes (balanced or
# not), と and っ after a quote, digits (ASCII and not), Latin words that are abbreviations or
# initials, upper and lower case, the spaces and newlines pieces end at, kana and kanji.
_SENTENCE_MARKS = [*"。｡．！？!?.", *sentences.OPENERS, *sentences.CLOSERS, *"\"'とっ", *"0123456789", "٣", "²", "１"]
_SENTENCE_WORDS = ["Mr", "e.g", "U.S", "Inc", "vs", "A", "b", "word", "GPT-4", "Yahoo", "Hey", "ph.d", ".NET", "x" * 70]
_SENTENCE_GAPS = [" ", " ", "\u3000", "\t", "\n", "\xa0", "あ", "漢字", "テスト", "ニュース", "é", "Ω"]
_SENTENCE_PARTS = st.sampled_from([*_SENTENCE_MARKS, *_SENTENCE_WORDS, *_SENTENCE_GAPS])
# and shaped like sentences, so that every rule meets its case: a word, a run of terminators,
# maybe a closer or quote, then what follows (a space, と, a lower-case letter, a digit, a bracket)
_SENTENCE_END = st.tuples(
    st.sampled_from([*_SENTENCE_WORDS, "「引用", "(see", "1", "12", "3.", "あ", "漢字", ""]),
    st.text(alphabet="。｡．！？!?.", min_size=1, max_size=3),
    st.sampled_from(["", *sentences.CLOSERS, '"', "'"]),
    st.sampled_from(["", " ", "  ", "\n", "\u3000", "と", "っ", "a", "B", "1", "あ", "「", "」", ")"]),
).map("".join)
_SENTENCE_TEXT = st.one_of(
    st.lists(_SENTENCE_PARTS, max_size=40).map("".join), st.lists(_SENTENCE_END, max_size=12).map("".join)
)


@settings(max_examples=1500, deadline=None)
@given(_SENTENCE_TEXT)
def test_sentence_pieces_identical_on_text_the_rules_look_at(text: str) -> None:
    assert native.sentence_pieces(text) == sentences.sentence_pieces(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_sentence_pieces_identical_on_any_text(text: str) -> None:
    assert native.sentence_pieces(text) == sentences.sentence_pieces(text)


@pytest.mark.parametrize(
    "text",
    [
        "See Mr. Smith. he left. The end.",
        "価格は3．5です。 次は4．です。 終わり",
        "Use .NET. Then stop. 次",
        "Yahoo!ニュースを見た。 Hey!Say と言う。 Wow! yes",
        "「すごい！」と思った。 「本当？」っと聞く。 「終わり。」",
        "e.g. this and U.S. Army, A. Lincoln and 1. 項目 2. 項目",
        "...そして続く。 Wait... Next one. version 4.1 です。",
        "一行目。\n二行目。  \n\n 三行目。　四行目 五行目。\t六行目。\t",
        "wait... and then. Mr... no. Use .A. Next and .Mr. Smith",
    ],
)
def test_sentence_pieces_identical_on_each_rule(text: str) -> None:
    assert native.sentence_pieces(text) == sentences.sentence_pieces(text)


def test_sentence_pieces_of_deep_brackets_and_what_is_not_text() -> None:
    deep = "「" * 40_000 + "です。" + "」" * 40_000 + "次。 (a. b) c."
    assert native.sentence_pieces(deep) == sentences.sentence_pieces(deep)
    assert native.sentence_pieces("") == sentences.sentence_pieces("") == [""]
    with pytest.raises(TypeError):
        native.sentence_pieces(b"bytes")


# --- made-up posts: the paths of the deduper, on purpose -----------------------------------------

_NOUNS = ["生成AI", "推論", "モデル", "データ", "検索", "記事", "要約", "精度", "ＡＩ", "GPT-5", "日本語", "学習"]
_PARTICLES = list("はがをにでとのもへや")
_VERBS = ["変わります", "重要です", "使われています", "増えました", "改善されました", "問われます"]
_ENDS = ["。", "！", "？", "。 ", "」と言う。", "", "\n"]
_WORDS = ["model", "search", "the", "data", "Overview", "engine", "robot", "tokens", "eco", "EOL"]

_JAPANESE = st.builds(
    "{}{}{}{}{}{}".format,
    st.sampled_from(_NOUNS),
    st.sampled_from(_PARTICLES),
    st.sampled_from(_NOUNS),
    st.sampled_from(_PARTICLES),
    st.sampled_from(_VERBS),
    st.sampled_from(_ENDS),
)
_LATIN = st.builds(
    lambda words, end: " ".join(words).capitalize() + end,
    st.lists(st.sampled_from(_WORDS), min_size=2, max_size=9),
    st.sampled_from([". ", "! ", "? ", ".", " "]),
)
_SENTENCE = st.one_of(_JAPANESE, _JAPANESE, _LATIN, st.text(max_size=30))


@st.composite
def _near_copy(draw: st.DrawFn, text: str, pool: list[str]) -> str:
    """`text` nearly: a character or particle changed, a sentence added or removed, or cut short."""
    how = draw(st.sampled_from(["char", "particle", "add", "remove", "truncate", "space"]))
    if how in ("char", "particle") and text:
        at = draw(st.integers(0, len(text) - 1))
        new = draw(st.sampled_from(_PARTICLES)) if how == "particle" else draw(st.characters())
        return text[:at] + new + text[at + 1 :]
    if how == "add":
        pieces = sentence_pieces(text) if text else []
        at = draw(st.integers(0, len(pieces)))
        return "".join([*pieces[:at], draw(st.sampled_from(pool)), *pieces[at:]])
    if how == "remove" and text:
        pieces = sentence_pieces(text)
        at = draw(st.integers(0, len(pieces) - 1))
        return "".join(pieces[:at] + pieces[at + 1 :])
    if how == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    return text.replace("。", "。 ", 1) if how == "space" else text


@st.composite
def _posts(draw: st.DrawFn) -> list[Raw]:
    pool = draw(st.lists(_SENTENCE, min_size=2, max_size=10))
    said: list[str] = []
    raws: list[Raw] = []
    for _ in range(draw(st.integers(1, 30))):
        step = draw(
            st.sampled_from(["new", "new", "repeat", "near", "near", "truncated", "heading", "break", "short", "empty"])
        )
        if step == "heading":
            raws.append(Raw("heading", draw(st.sampled_from([*pool, "概要"])), level=draw(st.integers(1, 6))))
            continue
        if step == "break":
            raws.append(Raw("break", ""))
            continue
        if step == "new" or not said:
            text = "".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6)))
        elif step == "repeat":
            text = draw(st.sampled_from(said))
        elif step == "near":
            text = draw(_near_copy(draw(st.sampled_from(said)), pool))
        elif step == "truncated":  # a cut chunk, and later (maybe) the whole of it
            full = "".join(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=6)))
            raws.append(Raw("paragraph", full[: draw(st.integers(0, len(full)))]))
            text = full
        elif step == "short":
            text = draw(st.sampled_from(["短い。", "はい", "ＯＫ", "Yes.", "1. 2. 3.", "の、は"]))
        else:
            text = ""
        said.append(text)
        raws.append(
            Raw(
                draw(st.sampled_from(["paragraph", "paragraph", "list_item", "quote"])),
                text,
                level=draw(st.integers(0, 2)),
                bold_only=draw(st.booleans()),
                link_only=draw(st.booleans()),
                finished=draw(st.booleans()),
            )
        )
    return raws


@settings(max_examples=600, deadline=None)
@given(_posts())
def test_identical_on_made_up_posts(raws: list[Raw]) -> None:
    assert_identical(raws)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(Raw, st.sampled_from(["paragraph", "heading", "break"]), st.text(max_size=60))))
def test_identical_on_any_text(raws: list[Raw]) -> None:
    assert_identical(raws)


# --- what is not a post -----------------------------------------------------------------------------


def test_errors_from_the_callbacks_come_through() -> None:
    # full-width ＡＩ: a key `fold` is called for (one of kana, kanji and ASCII alone is folded in C)
    raws = [Raw("paragraph", "生成ＡＩは推論を変えます。モデルの精度が重要です。")]

    def broken(text: str) -> str:
        raise ValueError("broken callback")

    with pytest.raises(ValueError, match="broken callback"):
        native.dedupe(raws, Raw, near_duplicates._DROPPED, sentence_pieces, broken)
    with pytest.raises(ValueError, match="broken callback"):
        native.dedupe(raws, Raw, near_duplicates._DROPPED, broken, fold)
    with pytest.raises(TypeError):
        native.dedupe(raws, Raw, near_duplicates._DROPPED, sentence_pieces, lambda text: 42)


def test_a_text_that_is_not_a_str_is_a_type_error_in_both() -> None:
    raws = [Raw("paragraph", 42)]  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        reference(raws)
    with pytest.raises(TypeError):
        compiled(raws)


def test_threads_at_once_get_what_one_gets(sample_posts: list[tuple[str, str | None]]) -> None:
    """No state is shared between calls: pool threads may all dedupe at once."""
    posts = [_raws_before_dedupe(body) for body, _title in sample_posts]
    expected = [reference(raws) for raws in posts]
    failures: list[int] = []

    def work() -> None:
        for _ in range(3):
            failures.extend(i for i, raws in enumerate(posts) if compiled(raws) != expected[i])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# --- the fold the compiled deduper does itself ------------------------------------------------------


def _accepted_characters() -> list[str]:
    return [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and native.fold_when_exact(chr(c)) is not None]


def test_every_character_folded_in_c_folds_the_same_in_python() -> None:
    accepted = _accepted_characters()
    assert len(accepted) > 20_000  # ASCII letters and digits, kana, the common kanji
    for character in accepted:
        assert native.fold_when_exact(character) == fold(character), hex(ord(character))
    assert native.fold_when_exact("ヿ") is None and native.fold_when_exact("Ａ") is None  # NFKC changes them


def test_no_character_folded_in_c_composes_with_the_one_before_it() -> None:
    # NFKC composes a pair only when the second is the second of some canonical decomposition
    seconds = set()
    for code in range(0x110000):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            seconds.add(chr(int(parts[1], 16)))
    accepted = set(_accepted_characters())
    assert seconds and not seconds & accepted
    assert all(unicodedata.combining(character) == 0 for character in accepted)


_FOLD_ALPHABET = st.sampled_from(list("AZaz09あんアヶーヽヾヿ漢字㐀龥ＡｱＡ々〇ß\u3099\u309a\u0301İ"))


@settings(max_examples=1000, deadline=None)
@given(st.text(_FOLD_ALPHABET, max_size=30))
def test_folded_in_c_only_when_python_agrees(text: str) -> None:
    folded = native.fold_when_exact(text)
    assert folded is None or folded == fold(text)
    if all((ch.isascii() and ch.isalnum()) or "あ" <= ch <= "ん" or ch in "アヶー漢字㐀龥" for ch in text):
        assert folded == fold(text)  # and it is taken whenever every character qualifies
