"""Candidate sentences of one post and their scores: centrality × position × cues.

`prepare` splits and scores every sentence once, for all three summary lengths; the
selection in `bot.content.summarize` then walks the ranked candidates.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.content.sentence_cues import (
    DROPPABLE_OPENER_RE,
    EN_WORD_RE,
    GOOD_HEADING_RE,
    JA_RE,
    LATIN_WORD_RE,
    LIST_LABEL_RE,
    SCOPE_RE,
    SKIP_HEADING_RE,
    STOPWORDS_EN,
    WEAK_HEADING_RE,
    context_factor,
    hard_reject,
    is_pipeline_chatter,
    soft_penalty,
    stands_alone,
)
from bot.content.sentence_rules import CONTENT_RE, char_ngrams, content_chars, is_fragment, title_core
from bot.content.sentences import split_sentences
from bot.content.textnorm import fold

MAX_SENTENCE_CHARS = 240
MIN_SENTENCE_CONTENT = 12


class Candidate:
    __slots__ = (
        "_grams",
        "dependent",
        "excluded",
        "feats",
        "key",
        "order",
        "penalty",
        "score",
        "section",
        "substantive",
        "text",
    )

    def __init__(self, text: str, key: str, feats: set[str], order: int, section: int, penalty: float) -> None:
        self.text = text
        self.key = key
        self.feats = feats
        self.order = order
        self.section = section
        self.penalty = penalty
        self.score = 0.0
        self._grams: set[str] | None = None
        self.excluded: bool | None = None  # decided on first use, by `is_excluded`
        self.substantive = True  # not persona chat, a question, a signpost, a note or advice
        self.dependent = False  # leans on the sentence before or its heading: never in a summary

    @property
    def grams(self) -> set[str]:
        """Character 3-grams, for the redundancy and title checks: only the few candidates
        that reach selection ever need them, so they are built on first use."""
        if self._grams is None:
            self._grams = _grams_of_key(self.key)
        return self._grams


@dataclass(frozen=True)
class Weights:
    """The knobs that choose sentences; `WEIGHTS` holds the fitted values.

    A separate object so that the bench can fit them by cross-validation
    (`python -m bench.eval_summaries --tune`) without editing the code.
    """

    position: float  # the early-sentence prior: 1 + position × (1 - relative position)³
    topic: float  # share of the title's terms a sentence names
    opening: float  # the first section, where the article states its news and scope
    closing: float  # the last section (a conclusion, "まとめ"), which abstracts often echo
    brevity: float  # exponent of the preference for short sentences (over 80 characters)
    scope: float  # a sentence opening "本記事では…": the article stating what it covers
    centrality: float  # exponent of the degree centrality: how much "central" outweighs the priors
    subjects: float  # share of the post's tags (terms beyond the title's) a sentence names
    spread: bool  # a standard summary takes no two sentences from one section while others have some


@dataclass
class Parsed:
    """A post's candidate sentences and what scoring compares them with: everything that does not
    depend on the weights, so the bench scores each post once per grid point, not re-splits it."""

    candidates: list[Candidate]
    english: bool
    title: TitleGrams
    title_feats: set[str]
    subject_feats: set[str]  # the tags' terms that are not already the title's
    total: int  # sentences in the article, candidates or not: the scale of relative positions


@dataclass
class Prepared:
    candidates: list[Candidate]
    english: bool
    title: TitleGrams
    lead: Candidate | None = None
    weights: Weights | None = None


def _clean_sentence(sentence: str, kind: str) -> str:
    s = " ".join(sentence.split())
    if kind == "list_item":
        # "超高画質化とリアリズムの追求: AIが生成する動画は…" → the sentence after the label.
        s = LIST_LABEL_RE.sub("", s)
    m = DROPPABLE_OPENER_RE.match(s)
    if m and len(s) - m.end() >= MIN_SENTENCE_CONTENT:
        s = s[m.end() :]
    return s


def _iter_blocks(body: Any) -> Iterable[tuple[int, str | None, str, str]]:
    for si, section in enumerate(getattr(body, "sections", ())):
        heading = section.heading
        if heading and SKIP_HEADING_RE.search(heading):
            continue
        for block in section.blocks:
            yield si, heading, block.kind, block.text


_ODD_CHAR_RE = re.compile(r"[^\w\s、。，．・：；！？「」『』（）()%,.!?:;'\"ー〜～/-]")


def is_excluded(c: Candidate, title: TitleGrams) -> bool:
    """Never in a summary: residue, chatter, a call to action, a fragment, symbol garbage or
    a restatement of the title. Decided once per candidate, when first needed."""
    if c.excluded is None:
        s = c.text
        c.excluded = (
            hard_reject(s)
            or is_fragment(s)
            or (_ODD_CHAR_RE.search(s) is not None and len(_ODD_CHAR_RE.findall(s)) > 0.3 * len(s))
            or title.repeated_by(c.grams)
        )
    return c.excluded


class TitleGrams:
    """The title's 3-gram sets, computed once per post rather than once per sentence."""

    __slots__ = ("sets",)

    def __init__(self, title: str) -> None:
        self.sets = [g for g in (char_ngrams(title), char_ngrams(title_core(title))) if g] if title.strip() else []

    def repeated_by(self, grams: set[str]) -> bool:
        """Whether a sentence says little beyond the title.

        Stricter than the bench's `repeats_title` at 0.5 (a margin below both of its limits),
        but a sentence that takes a third of the title's words and adds mostly new facts
        ("某社が評価額8300億ドルで1000億ドル超の資金調達交渉を進めている…") is the news, not a
        restatement, and stays.
        """
        if not grams:
            return False
        for tg in self.sets:
            shared = len(grams & tg)
            own = shared / len(grams)
            title_side = shared / len(tg)
            if title_side >= TITLE_LIMIT or own >= 0.5 or (title_side >= 0.35 and own >= TITLE_NEW_FACTS):
                return True
        return False


TITLE_LIMIT = 0.5
# Above 0.35 of the title's 3-grams, at least this share of the sentence's own 3-grams must be new.
TITLE_NEW_FACTS = 0.4


def _grams_of_key(key: str) -> set[str]:
    return {key[i : i + 3] for i in range(len(key) - 2)}


# Scoring features for Japanese: runs of kanji, of katakana and of Latin letters/digits
# (after NFKC + casefold). About a quarter as many features as character 3-grams, and
# runs are closer to words: "企業", "エージェント", "gpt4o" rather than "業導入".
_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff々〆ヶ]{2,}|[\u30a1-\u30faー]{2,}|[a-z0-9]+(?:[.-][a-z0-9]+)*")


def _ja_features(normalized: str) -> set[str]:
    return set(_RUN_RE.findall(normalized))


def _en_features(normalized: str) -> set[str]:
    words = [w for w in EN_WORD_RE.findall(normalized) if w not in STOPWORDS_EN]
    return set(words) | {a + " " + b for a, b in itertools.pairwise(words)}


def prepare(title: str, body: Any, weights: Weights | None = None, subjects: Iterable[str] = ()) -> Prepared:
    """Split and score every sentence once, for all three lengths; `subjects` are the post's tags."""
    return score(parse(title, body, subjects), weights or WEIGHTS)


def parse(title: str, body: Any, subjects: Iterable[str] = ()) -> Parsed:
    """Split every sentence and find its features once, whatever the weights.

    Only the cheap filters run here; every sentence that passes them is a neighbour
    in the centrality. The hard rules (residue, fragments, boilerplate, title
    restatements) are checked by `is_excluded` when selection reaches a sentence,
    which is a few dozen sentences per post rather than all of them.
    """
    blocks = list(_iter_blocks(body))
    # the generator talking about its output before the article: those blocks go, the article stays
    while blocks and is_pipeline_chatter(blocks[0][3]):
        blocks.pop(0)
    if not blocks:
        return Parsed([], False, TitleGrams(""), set(), set(), 0)
    candidates: list[Candidate] = []
    normalized: list[str] = []
    seen: set[str] = set()
    headings = {content_chars(h) for h in (getattr(s, "heading", None) for s in body.sections) if h}
    order = 0
    for bi, (si, heading, kind, text) in enumerate(blocks):
        sentences = split_sentences(text)
        if bi == 0 and len(sentences) <= 2 and "。" not in text and len(text) < 120:
            order += len(sentences)
            continue  # a title line restated at the top of the body
        heading_factor = 1.0
        if heading and GOOD_HEADING_RE.search(heading):
            heading_factor = 1.25
        elif heading and WEAK_HEADING_RE.search(heading):
            heading_factor = 0.6
        if kind == "quote":
            heading_factor *= 0.7
        for pi, raw in enumerate(sentences):
            order += 1
            s = _clean_sentence(raw, kind)
            if len(s) > MAX_SENTENCE_CHARS:
                continue
            norm = fold(s)
            key = CONTENT_RE.sub("", norm)
            if len(key) < MIN_SENTENCE_CONTENT or key in seen or key in headings:
                continue
            seen.add(key)
            chat = soft_penalty(s)
            penalty = chat * context_factor(s, pi) * heading_factor * (1.1 if pi == 0 else 1.0)
            candidate = Candidate(s, key, set(), order, si, penalty)
            candidate.substantive = chat >= 0.7
            candidate.dependent = not stands_alone(s)
            candidates.append(candidate)
            normalized.append(norm)
    sample = "".join(c.text for c in candidates[:40])
    # Kana and kanji are three bytes in UTF-8: counting them this way is a regex pass cheaper.
    non_ascii = (len(sample.encode()) - len(sample)) // 2
    english = len(LATIN_WORD_RE.findall(sample)) * 4 > non_ascii
    features = _en_features if english else _ja_features
    for c, norm in zip(candidates, normalized, strict=True):
        c.feats = features(norm)
    if english:
        candidates = [c for c in candidates if not JA_RE.search(c.text)] or candidates
    title_feats = features(fold(title))
    # Tags name the post's subject in other words than the title ("RAG", "画像生成"); generic ones
    # ("AI") that the title already has add nothing.
    subject_feats = features(fold(" ".join(subjects))) - title_feats
    return Parsed(candidates, english, TitleGrams(title), title_feats, subject_feats, order)


def score(parsed: Parsed, weights: Weights) -> Prepared:
    """Score the parsed sentences with `weights` and choose the one that opens every summary."""
    _score(parsed, weights)
    lead = _news_lead(parsed.candidates, parsed.title, parsed.title_feats, parsed.total, weights)
    return Prepared(parsed.candidates, parsed.english, parsed.title, lead, weights)


def _news_lead(
    candidates: list[Candidate], title: TitleGrams, title_feats: set[str], total: int, w: Weights
) -> Candidate | None:
    """The opening's best substantive sentence: what a reader needs first.

    This blog's articles state the news in the first section, often after a few
    sentences of persona chat. Among the first few sentences that are neither chat nor
    excluded, the one that opens every summary is, in order of preference: one that does
    not lean on the sentence before; the one densest in the title's words (the title
    names the news; a raw count would favour long sentences that wander); the best scored.
    """
    if not candidates:
        return None
    first_section = candidates[0].section
    if w.scope:
        for c in candidates:
            if c.section != first_section:
                break
            if SCOPE_RE.search(c.text) and not c.dependent and not is_excluded(c, title):
                return c
    window: list[Candidate] = []
    for c in candidates:
        if c.section != first_section or c.order > max(10, LEAD_SHARE * total) or len(window) >= LEAD_WINDOW:
            break
        if c.substantive and not is_excluded(c, title):
            window.append(c)
    return max(
        window,
        key=lambda c: (not c.dependent, len(c.feats & title_feats) / math.sqrt(len(c.feats) or 1), c.score),
        default=None,
    )


LEAD_WINDOW = 4
LEAD_SHARE = 0.25


def _score(parsed: Parsed, w: Weights) -> None:
    """Degree centrality × position × cues.

    Position is a prior by section as well as by order: abstracts draw on the article's opening
    (its news and scope) and its conclusion more than on the sections between.

    With TF-IDF vectors x_j, the sum of x_i · x_j over all sentences is
    x_i · Σx_j, and Σx_j's weight on a feature is idf × document frequency,
    which a Counter gives for free. Dividing by |x_i| makes it a cosine on
    the sentence's side (continuous LexRank's degree, without iterations).
    Sentences that restate the title still count as neighbours here; they are
    only kept out of the summary.
    """
    candidates, title_feats, subject_feats, total = (
        parsed.candidates,
        parsed.title_feats,
        parsed.subject_feats,
        parsed.total,
    )
    n = len(candidates)
    if not n:
        return
    df = Counter(itertools.chain.from_iterable(c.feats for c in candidates))
    # Weights depend only on document frequency: compute them per frequency, not per feature.
    idf2_by_df = [0.0] + [math.log((n + 1) / d) ** 2 for d in range(1, n + 1)]
    # Neighbours only (d - 1): a sentence is not its own evidence.
    weight_by_df = [w * (d - 1) for d, w in enumerate(idf2_by_df)]
    df_of, idf2_of, weight_of = df.__getitem__, idf2_by_df.__getitem__, weight_by_df.__getitem__
    last_section = candidates[-1].section
    for c in candidates:
        f = c.feats
        counts = list(map(df_of, f))
        norm = math.sqrt(sum(map(idf2_of, counts))) or 1.0
        centrality = sum(map(weight_of, counts)) / norm
        rel = c.order / max(1, total)
        position = 1.0 + w.position * (1.0 - rel) ** 3
        if c.section == last_section and c.section != candidates[0].section:
            position += w.closing
        elif c.section == candidates[0].section:
            position += w.opening
        on_topic = 1.0 + (w.topic * len(f & title_feats) / len(title_feats) if title_feats else 0.0)
        if subject_feats:
            on_topic += w.subjects * len(f & subject_feats) / len(subject_feats)
        shape = 1.0 if 35 <= len(c.text) <= 160 else 0.75
        if w.brevity and len(c.text) > 80:
            shape *= (80 / len(c.text)) ** w.brevity
        if SCOPE_RE.search(c.text):
            shape *= 1.0 + w.scope
        c.score = centrality**w.centrality * position * on_topic * shape * c.penalty
    top = max(c.score for c in candidates) or 1.0
    for c in candidates:
        c.score /= top


# Fitted on the 97 abstracts of corpus-sample + summary-dev: the best point of `bench.summary_cv.GRID`
# (`python -m bench.eval_summaries --tune`); every knob here is on that grid. The bench's
# "kiji (5-fold CV)" row is what such a fit scores on posts it was not fitted on.
WEIGHTS = Weights(
    position=0.6,
    topic=2.0,
    opening=1.0,
    closing=1.0,
    brevity=1.0,
    scope=1.0,
    centrality=1.0,
    subjects=0.0,  # the folds never chose the tags: on these abstracts they add nothing to the title
    spread=False,
)
