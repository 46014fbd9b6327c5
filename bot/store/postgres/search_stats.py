"""A search query's phrases and the statistics bm25 ranks by, on PostgreSQL (part of `search_index`).

A query becomes FTS5 phrases (`Phrase`), each a `tsquery` for the vectors; a post's `DocStats`
(each phrase's instances in its title and body, its size) come from its vector's positions or,
for a post its vector cannot answer for, from its stored tokens; `bm25` is FTS5's, step by step.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_LEXEME_BYTES = 2046
NOTHING = "('kiji' & !'kiji')"  # a tsquery no vector matches
# FTS5's bm25 constants and Kiji's column weights (title, body).
K1, B = 1.2, 0.75
TITLE_WEIGHT, BODY_WEIGHT = 5.0, 1.0


def _quoted(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Phrase:
    """One FTS5 phrase of search_tokens: tokens in a row, the last one a prefix when `prefix`."""

    tokens: tuple[str, ...]
    prefix: bool

    @classmethod
    def parse(cls, quoted: str) -> Phrase:
        prefix = quoted.endswith("*")
        return cls(tuple(quoted.rstrip("*").strip('"').split(" ")), prefix)

    def tsquery(self, title_only: bool = False) -> str:
        """The tsquery of this phrase for the exact posts (none of which holds a token too long for a lexeme)."""
        if any(len(token.encode()) > MAX_LEXEME_BYTES for token in self.tokens):
            return NOTHING
        weight = "A" if title_only else ""
        parts = [f"{_quoted(token)}:{weight}" if weight else _quoted(token) for token in self.tokens]
        if self.prefix:
            parts[-1] = f"{_quoted(self.tokens[-1])}:*{weight}"
        return "(" + " <-> ".join(parts) + ")"

    def loose_tsquery(self) -> str | None:
        """The AND of this phrase's tokens that a lexeme can hold (None: none can), for the posts past the limits."""
        parts = [_quoted(token) for token in self.tokens if len(token.encode()) <= MAX_LEXEME_BYTES]
        if self.prefix and parts and len(self.tokens[-1].encode()) <= MAX_LEXEME_BYTES:
            parts[-1] += ":*"
        return "(" + " & ".join(parts) + ")" if parts else None

    def count_in(self, tokens: str) -> int:
        """`len(self.starts(tokens.split(" ")))` for tokens joined by single spaces, counted by one regex in C
        (a lookahead, so overlapping instances count, as `starts` finds them)."""
        return sum(1 for _ in _phrase_pattern(self.tokens, self.prefix).finditer(tokens)) if tokens else 0

    def starts(self, tokens: Sequence[str]) -> list[int]:
        """Indexes in `tokens` where this phrase begins."""
        size = len(self.tokens)
        last = size - 1
        found = []
        for at in range(len(tokens) - last):
            if all(tokens[at + j] == self.tokens[j] for j in range(last)) and (
                tokens[at + last].startswith(self.tokens[last])
                if self.prefix
                else tokens[at + last] == self.tokens[last]
            ):
                found.append(at)
        return found


@functools.lru_cache(maxsize=256)
def _phrase_pattern(tokens: tuple[str, ...], prefix: bool) -> re.Pattern[str]:
    """Where a phrase starts among tokens joined by single spaces: whole tokens, the last one a prefix if asked."""
    phrase = re.escape(" ".join(tokens)) + ("[^ ]*" if prefix else "")
    return re.compile(f"(?=(?<![^ ]){phrase}(?![^ ]))")


def _phrases(expression: str | None, separator: str) -> list[Phrase]:
    return [] if expression is None else [Phrase.parse(part) for part in expression.split(separator)]


@dataclass(slots=True)
class DocStats:
    """One post's instances of each phrase: (in the title, in the body), and its size in tokens."""

    size: int
    counts: list[tuple[int, int]]  # per query phrase
    phrase_hit: bool  # any phrase of the phrase expression occurs

    @property
    def matches(self) -> bool:
        return all(title + body for title, body in self.counts)

    @property
    def in_title(self) -> bool:
        return all(title for title, _ in self.counts)


def _stats(title_tokens: str, body_tokens: str, phrases: Sequence[Phrase], alternatives: Sequence[Phrase]) -> DocStats:
    """The stats of a post past the limits, from its stored tokens: `Phrase.starts`'s counts, found by `re` in C
    (a Python loop over a long post's 6,000+ tokens, for each of hundreds of such posts, took seconds)."""
    title_list, body_list = title_tokens.split(), body_tokens.split()
    title, body = " ".join(title_list), " ".join(body_list)
    counts = [(p.count_in(title), p.count_in(body)) for p in phrases]
    hit = any(p.count_in(title) or p.count_in(body) for p in alternatives)
    return DocStats(len(title_list) + len(body_list), counts, hit)


def _stats_from_positions(
    title_size: int,
    body_size: int,
    lexemes: dict[str, Sequence[int]],
    phrases: Sequence[Phrase],
    alternatives: Sequence[Phrase],
) -> DocStats:
    """DocStats of an exact post from the positions of the query's lexemes in its vector."""

    def places(token: str, prefix: bool) -> set[int]:
        if not prefix:
            return set(lexemes.get(token, ()))
        return {at for lexeme, ats in lexemes.items() if lexeme.startswith(token) for at in ats}

    def starts(phrase: Phrase) -> Sequence[int]:
        sets = [places(t, phrase.prefix and j == len(phrase.tokens) - 1) for j, t in enumerate(phrase.tokens)]
        if len(sets) == 1:  # one token (most queries): its places are where it starts
            return list(sets[0])
        return [at for at in sets[0] if all(at + j in sets[j] for j in range(1, len(sets)))]

    counts = []
    for phrase in phrases:
        found = starts(phrase)
        in_title = sum(1 for at in found if at <= title_size)
        counts.append((in_title, len(found) - in_title))
    return DocStats(title_size + body_size, counts, any(starts(p) for p in alternatives))


def bm25(stats: DocStats, idf: Sequence[float], avgdl: float) -> float:
    """FTS5's bm25() for one row, step by step as fts5Bm25Function computes it."""
    score = 0.0
    size = float(stats.size)
    for i, (title, body) in enumerate(stats.counts):
        freq = title * TITLE_WEIGHT + body * BODY_WEIGHT  # whole numbers: exact in any order, as FTS5 sums them
        score += idf[i] * ((freq * (K1 + 1.0)) / (freq + K1 * (1 - B + B * size / avgdl)))
    return -1.0 * score


def _idf(rows: int, hits: int) -> float:
    value = math.log((rows - hits + 0.5) / (hits + 0.5))
    return 1e-6 if value <= 0.0 else value
