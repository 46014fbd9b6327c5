"""Extractive summaries of the blog's articles, for Japanese and English text.

The posts were written by an LLM pipeline: lead lines restate the title, a chatty
first-person persona opens most articles, paragraphs repeat, and chunk markers
or prompt text leak into the body. A language model is optional (a server of the
operator's choosing, see `bot.services.llm`); this is what every reader gets without
one, or when it fails: a handful of the article's own sentences. Everything here is
about choosing sentences a reader would rather read than the article: opened by the
article's statement of its scope or the news the opening states (after the persona's chat),
then central ones (LexRank-style degree centrality over runs of kanji, katakana and Latin
letters for Japanese, words for English), early, in the opening or the conclusion and under
summary-like headings (a long summary spread across sections), never
redundant, never broken, never boilerplate, rarely leaning on a sentence the reader
has not seen. When nothing usable is left the summary is honestly empty.

Summaries are made on a post's first `/summary` request and cached against its content and
`SUMMARIZER_VERSION` (see `bot.services.summaries`); the bench still asks for 200 posts/s on
one core, and numpy is not a dependency, so the centrality is computed in one linear pass:
with L2-normalised TF-IDF vectors the sum of a sentence's cosine similarities to all others
equals its dot product with the sum of all vectors. The hard rules (residue, fragments,
boilerplate, title restatements) and character 3-grams are computed only for the
sentences selection actually reaches.

Where each part lives: sentence boundaries in `bot.content.sentences`, the rules a summary
sentence must pass in `bot.content.sentence_rules`, wording cues in
`bot.content.sentence_cues`, candidates and scores in `bot.content.summary_scoring`, and
the choice of sentences for each length here. `kiji summarize FILE` is
`bot.services.summary_files`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.content.sentence_cues import CONTRAST_OPENER_RE
from bot.content.sentence_rules import is_fragment, jaccard
from bot.content.summary_scoring import WEIGHTS, Candidate, Prepared, TitleGrams, Weights, is_excluded, prepare

if TYPE_CHECKING:
    from bot.content.cleaning import CleanedBody

SUMMARIZER_VERSION = "11"  # 11: scope sentences however they open; every knob chosen by the folds

DISCORD_EMBED_DESCRIPTION_LIMIT = 4096
NO_SUMMARY_TEXT = "要約はありません (no summary available)"


class SummaryLength(StrEnum):
    SHORT = "short"
    STANDARD = "standard"
    LONG = "long"


@dataclass(frozen=True)
class Summary:
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        """Japanese sentences run together; a space only where two Latin-script sentences meet."""
        out: list[str] = []
        for sentence in self.sentences:
            if out and _needs_space(out[-1], sentence):
                out.append(" ")
            out.append(sentence)
        return "".join(out)

    @property
    def available(self) -> bool:
        return bool(self.sentences)


def _needs_space(previous: str, following: str) -> bool:
    return previous[-1:].isascii() and following[:1].isascii()


# --------------------------------------------------------------------------- selection

# (minimum sentences, maximum sentences, character budget, longest single sentence)
_SHAPES: dict[SummaryLength, tuple[int, int, int, int]] = {
    SummaryLength.SHORT: (1, 2, 220, 160),
    SummaryLength.STANDARD: (3, 3, 400, 170),
    SummaryLength.LONG: (5, 6, 1100, 240),
}
REDUNDANCY_JACCARD = 0.3
STANDARD_MIN_CHARS = 150  # the standard length: from this many characters to its budget
STANDARD_MAX_CHARS = _SHAPES[SummaryLength.STANDARD][2]


def _redundant(c: Candidate, chosen: list[Candidate]) -> bool:
    for d in chosen:
        if jaccard(c.grams, d.grams) >= REDUNDANCY_JACCARD:
            return True
        small = min(len(c.grams), len(d.grams)) or 1
        if len(c.grams & d.grams) / small >= 0.5:
            return True
    return False


def _lengthen(
    chosen: list[Candidate], pool: list[Candidate], budget: int, floor: int, title: TitleGrams
) -> list[Candidate]:
    """Swap the shortest pick for a longer good one when three short sentences say too little."""
    total = sum(len(c.text) for c in chosen)
    if total >= floor or not chosen:
        return chosen
    shortest = min(chosen, key=lambda c: len(c.text))
    rest = [c for c in chosen if c is not shortest]
    # a good enough sentence first; the standard length wins over the score if there is none
    for least in (0.3 * shortest.score, 0.0):
        for c in pool:  # best first
            if c in chosen or c.dependent or c.score < least:
                continue
            new_total = total - len(shortest.text) + len(c.text)
            if floor <= new_total <= budget and not is_excluded(c, title) and not _redundant(c, rest):
                return [*rest, c]
    return chosen


# "…処理できるこの技術は…": a noun taken up from the sentence before, which then comes along
_INNER_REFERENCE_RE = re.compile(r"(?<=.)(?:この|その|こうした|そうした)(?=[\u3400-\u9fff\u30a1-\u30ff])|これら|それら")


def _with_antecedents(chosen: list[Candidate], prep: Prepared, most: int, budget: int, longest: int) -> list[Candidate]:
    """Bring the sentence before a pick that refers back to it, in place of the weakest other pick.

    Only a predecessor that could be picked itself (stands alone, whole, not redundant) comes
    along; the summary keeps its size limits.
    """
    by_order = {c.order: c for c in prep.candidates}
    for c in sorted(chosen, key=lambda c: c.order):
        if not _INNER_REFERENCE_RE.search(c.text):
            continue
        before = by_order.get(c.order - 1)
        if (
            before is None
            or before in chosen
            or before.section != c.section
            or before.dependent
            or len(before.text) > longest
            or is_excluded(before, prep.title)
        ):
            continue
        kept = list(chosen)
        if len(kept) >= most:
            weakest = min((d for d in kept if d is not c and d is not prep.lead), key=lambda d: d.score, default=None)
            if weakest is None:
                continue
            kept.remove(weakest)
        if sum(len(d.text) for d in kept) + len(before.text) > budget or _redundant(before, kept):
            continue
        chosen = [*kept, before]
    return chosen


def _select(prep: Prepared, length: SummaryLength) -> Summary:
    lo, hi, budget, longest = _SHAPES[length]
    ranked = sorted(prep.candidates, key=lambda c: (-c.score, c.order))
    # every sentence must stand alone: the reader sees neither its predecessor nor its heading
    pool = [c for c in ranked if len(c.text) <= longest and not c.dependent]
    lead = prep.lead
    chosen: list[Candidate] = [lead] if lead and not lead.dependent and len(lead.text) <= longest else []
    used_chars = sum(len(c.text) for c in chosen)
    sections_available = len({c.section for c in pool})
    # a standard summary stops at two sentences once it has the standard length
    enough = STANDARD_MIN_CHARS if length is SummaryLength.STANDARD else budget + 1
    # The long summary covers the article section by section; the standard one, measured against
    # authors' abstracts, spreads only if the weights say so (abstracts draw on the opening and the end).
    spread = length is not SummaryLength.STANDARD or (prep.weights or WEIGHTS).spread
    for diverse in (True, False) if spread else (False,):
        for c in pool:
            if len(chosen) >= hi or (len(chosen) >= 2 and used_chars >= enough):
                break
            if c in chosen or used_chars + len(c.text) > budget:
                continue
            if diverse and sections_available >= lo and any(d.section == c.section for d in chosen):
                continue
            if is_excluded(c, prep.title) or _redundant(c, chosen):
                continue
            chosen.append(c)
            used_chars += len(c.text)
        if len(chosen) >= lo or (len(chosen) >= 2 and used_chars >= enough):
            break
    if length is SummaryLength.STANDARD:
        chosen = _lengthen(chosen, pool, budget, STANDARD_MIN_CHARS, prep.title)
    chosen = _with_antecedents(chosen, prep, hi, budget, longest)
    if length is SummaryLength.STANDARD:  # an antecedent may have replaced a longer pick
        chosen = _lengthen(chosen, pool, budget, STANDARD_MIN_CHARS, prep.title)
    if length is SummaryLength.SHORT and len(chosen) == 2 and len(chosen[0].text) >= 80:
        chosen = chosen[:1]
    if length is SummaryLength.LONG and len(chosen) > lo and chosen[-1].score < 0.25:
        chosen = chosen[:-1]
    chosen.sort(key=lambda c: c.order)
    sentences = tuple(c.text for c in chosen)
    if sentences:
        # A contrast that opens the summary contrasts with nothing the reader has seen.
        m = CONTRAST_OPENER_RE.match(sentences[0])
        if m and not is_fragment(sentences[0][m.end() :]):
            sentences = (sentences[0][m.end() :], *sentences[1:])
    while sentences and len(Summary(sentences).text) > DISCORD_EMBED_DESCRIPTION_LIMIT:
        sentences = sentences[:-1]
    return Summary(sentences)


def summarize(
    title: str,
    body: CleanedBody,
    length: SummaryLength = SummaryLength.STANDARD,
    weights: Weights = WEIGHTS,
    subjects: Sequence[str] = (),
) -> Summary:
    """`subjects`: the post's tags, terms that name what it is about besides its title."""
    return _select(prepare(title or "", body, weights, subjects), SummaryLength(length))


def summarize_prepared(prep: Prepared, length: SummaryLength = SummaryLength.STANDARD) -> Summary:
    """A summary of sentences already scored (`summary_scoring.score`): the bench's grid search."""
    return _select(prep, SummaryLength(length))


def summarize_all(
    title: str, body: CleanedBody, weights: Weights = WEIGHTS, subjects: Sequence[str] = ()
) -> dict[SummaryLength, Summary]:
    """All three lengths from one scoring pass: the first request for a post caches every length."""
    prep = prepare(title or "", body, weights, subjects)
    return {length: _select(prep, length) for length in SummaryLength}
