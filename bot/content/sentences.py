"""Sentences of plain text, for Japanese and English: the one place that decides where a sentence ends.

Two views of the same boundaries:

* `split_sentences`: the sentences a reader sees (summaries, the bench), stripped, after the
  rules below (each has a test).
* `sentence_pieces`: lossless pieces for the cleaner's repeated-sentence check, joined back
  they give the text; cheap enough to run on every block of every post.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

OPENERS = "「『（(【〔［《〈“‘"
CLOSERS = "」』）)】〕］》〉”’"
_PAIR = dict(zip(OPENERS, CLOSERS, strict=True))

BRACKET_RE = re.compile(f"[{re.escape(OPENERS + CLOSERS)}]")
# A run of terminators (。！？ in both widths, ASCII . ! ?) with any closing brackets after it.
_TERMINATOR_RE = re.compile(r"[。｡．！？!?.]+[" + re.escape(CLOSERS) + "\"']*")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "eg",
        "ie",
        "inc",
        "ltd",
        "co",
        "corp",
        "no",
        "fig",
        "figs",
        "approx",
        "est",
        "dept",
        "univ",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.k",
        "a.m",
        "p.m",
        "ph.d",
        "al",
        "cf",
        "ca",
        "vol",
        "op",
    ]
)


def _matched_openers(text: str) -> dict[int, int]:
    """Opening bracket position → its closing position, for balanced pairs only.

    An unbalanced 「 (a cut paragraph, a typo) must not swallow the rest of the
    paragraph into one sentence, so only brackets that really close count.
    """
    stack: list[tuple[int, str]] = []
    # For each closer, the stack depths of the openers it would close: the innermost is found
    # at once rather than by walking down a stack of 40,000 unrelated 「.
    open_at: dict[str, list[int]] = {closer: [] for closer in CLOSERS}
    pairs: dict[int, int] = {}
    for m in BRACKET_RE.finditer(text):
        ch = m.group()
        if ch in _PAIR:
            closer = _PAIR[ch]
            open_at[closer].append(len(stack))
            stack.append((m.start(), closer))
            continue
        depths = open_at[ch]
        if depths:
            depth = depths[-1]
            pairs[stack[depth][0]] = m.start()
            while len(stack) > depth:
                open_at[stack.pop()[1]].pop()
    return pairs


def _outer_spans(pairs: dict[int, int]) -> tuple[list[int], list[int]]:
    """The bracket pairs merged into disjoint spans (starts, ends), sorted: one bisect per question."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(pairs.items()):
        if ends and start < ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _inside_brackets(spans: tuple[list[int], list[int]], pos: int) -> bool:
    starts, ends = spans
    i = bisect_left(starts, pos) - 1  # the last span starting before pos
    return i >= 0 and pos < ends[i]


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.")
_LONGEST_WORD = 64  # longer than any abbreviation: a longer run cannot be one


def _word_before(text: str, start: int) -> str | None:
    """What `([A-Za-z][A-Za-z.]*)$` finds in text[:start], looking back a bounded distance.

    Cut at _LONGEST_WORD characters, which changes no answer (neither an abbreviation nor
    an initial is that long) and keeps "a.a.a.…" linear instead of one scan from 0 per dot.
    """
    begin = start
    limit = max(0, start - _LONGEST_WORD)
    while begin > limit and text[begin - 1] in _WORD_CHARS:
        begin -= 1
    while begin < start and text[begin] == ".":
        begin += 1
    return text[begin:start] if begin < start else None


def _is_boundary(text: str, start: int, end: int) -> bool:
    """Whether the terminator run text[start:end] ends a sentence."""
    run = text[start:end]
    nxt = text[end] if end < len(text) else ""
    prev = text[start - 1] if start else ""
    core = run.rstrip(CLOSERS + "\"'")
    if core != run and nxt in "とっ":
        return False  # 「すごい！」と思った: the closing bracket quotes into the sentence.
    if any(c in "。｡！？" for c in core):
        return True
    if "．" in core and not (prev.isdigit() and nxt.isdigit()):
        return True
    if core in ("!", "?", "!?", "?!") or set(core) <= {"!", "?"}:
        # "Yahoo!ニュース", "Hey!Say": a Latin word glued to what follows is a name.
        return not (prev.isascii() and prev.isalnum() and nxt and not nxt.isspace())
    # ASCII periods from here on.
    if not nxt:
        return True
    if not nxt.isspace():
        # Decimals, versions (GPT-4.1), domains, "U.S." inside words; but a Japanese
        # character glued after "." in Japanese text is a new sentence, unless the "."
        # ends an abbreviation ("…Technology Inc.が提供する").
        if nxt.isascii() or prev.isdigit():
            return False
        word = _word_before(text, start)
        return not (word and word.lower().rstrip(".") in _ABBREVIATIONS)
    if core != "." and core.endswith("."):
        return True  # "..." ellipsis followed by space: treat as an end.
    before = _word_before(text, start)
    if before:
        word = before.lower().rstrip(".")
        if word in _ABBREVIATIONS or (len(before) == 1 and before.isupper()):
            return False
    if prev.isdigit() and len(text) - len(text.lstrip(" 0123456789")) >= start:
        return False  # a list number at the very start: "1. "
    following = end
    while following < len(text) and text[following].isspace():
        following += 1
    after = text[following : following + 1]
    return not (after.islower() and after.isascii())


def _sentence_ends(line: str) -> Iterator[int]:
    """Where the sentences of one line end (after their terminator and closing brackets)."""
    pairs = _matched_openers(line) if BRACKET_RE.search(line) else {}
    spans = _outer_spans(pairs) if pairs else None
    for m in _TERMINATOR_RE.finditer(line):
        start, end = m.span()
        if spans and _inside_brackets(spans, start):
            continue
        # A lone 。 always ends one; every other run goes through the rules.
        if (end - start != 1 or line[start] != "。") and not _is_boundary(line, start, end):
            continue
        yield end


def split_sentences(text: str) -> list[str]:
    """Split plain text into sentences; a newline always ends one.

    Rules (each has a test): 。！？ and their half-width/full-width forms end a
    sentence; 。 inside 「」『』（） does not; closing brackets after a
    terminator stay with it; decimals and names such as GPT-4.1 or
    Yahoo!ニュース do not split; English abbreviations (Mr., e.g., U.S.) and
    initials do not end sentences.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        begin = 0
        for end in _sentence_ends(line):
            piece = line[begin:end].strip()
            if piece:
                sentences.append(piece)
            begin = end
        rest = line[begin:].strip()
        if rest:
            sentences.append(rest)
    return sentences


# A space between two CJK characters ends a run-in heading ("概要 本稿は…"): a piece for the cleaner.
_CJK_SPACE_RE = re.compile(r"[ \u3000](?<=[^\x00-\x7f].)(?=[^\x00-\x7f])")
_PIECE_TRAIL = " \u3000\t\n"


def sentence_pieces(text: str) -> list[str]:
    """The sentences of `split_sentences` with their trailing spaces: joined, they give the text back.

    The cleaner asks "was this sentence said before?" of every block of every post, so a block
    with at most one terminator and no space is one piece without looking further; and a
    space between two CJK characters also ends a piece (a run-in heading before its text).
    """
    if text.count("。") + text.count("？") + text.count("！") <= 1 and " " not in text:
        return [text]
    ends: set[int] = set()
    offset = 0
    for line in text.split("\n"):
        ends.update(offset + end for end in _sentence_ends(line))
        offset += len(line) + 1
    ends.update(m.end() for m in _CJK_SPACE_RE.finditer(text))
    pieces: list[str] = []
    begin = 0
    length = len(text)
    for end in sorted(ends):
        while end < length and text[end] in _PIECE_TRAIL:
            end += 1
        if end > begin:
            pieces.append(text[begin:end])
            begin = end
    if begin < length:
        pieces.append(text[begin:])
    return pieces
