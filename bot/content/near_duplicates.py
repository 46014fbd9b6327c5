"""Near-duplicate blocks and sentences: the pipeline repeats chunks, verbatim or nearly.

Indexes a hash-free, content-defined sample of character 3-grams (those right after a
particle) so finding a block's near-copies stays roughly linear in the post's length.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from itertools import chain

from bot.content.markdown_blocks import Raw
from bot.content.sentences import sentence_pieces
from bot.content.textnorm import fold

__all__ = ["NATIVE", "all_shingles", "dedup_key", "dedupe"]

# --- near-duplicates ------------------------------------------------------------------------------

_SHINGLE = 3
_ALL_SHINGLES = re.compile(r"(?=(...))", re.DOTALL)
# Index only shingles that start after a common particle (or e/o in Latin text): about one in five,
# chosen by content, so a copy or a fragment of a block samples the same shingles as the original
# (containment survives).
_ANCHORED_SHINGLES = re.compile(r"[のはをにがでともへやるeo](?=(...))")
_MIN_SENTENCE_CHARS = 15
_MAX_POSTING = 12
_MIN_SAMPLE = 12  # below this many anchored shingles, compare full shingle sets
_JACCARD_DUP = 0.8
_CONTAIN_DUP = 0.9
_MIN_DUP_CHARS = 12
# A sentence of a near-copy is new when under half of its character 5-grams are in the block it copies
# (a reworded particle leaves most of them: that sentence is the same one)
_GRAM = 5
_NOVEL_SHARE = 0.5
_DEDUP_STRIP = re.compile(r"[\s\W_]+")


def dedup_key(text: str) -> str:
    # strip first: NFKC then mostly sees text it leaves alone, which is its fast path
    return fold(_DEDUP_STRIP.sub("", text))


def all_shingles(key: str) -> set[str]:
    if len(key) <= _SHINGLE:
        return {key}
    return set(_ALL_SHINGLES.findall(key))


def _grams(key: str) -> set[str]:
    if len(key) <= _GRAM:
        return {key}
    return {key[i : i + _GRAM] for i in range(len(key) - _GRAM + 1)}


def _anchored(key: str) -> set[str]:
    """Shingles starting right after a particle: content-defined, so a copy samples the same ones."""
    sampled = set(_ANCHORED_SHINGLES.findall(key))
    return sampled if len(sampled) >= 3 else all_shingles(key)


class _Deduper:
    """Remembers what a post has said so far, to recognise a block or sentence said again."""

    def __init__(self) -> None:
        self.exact: set[str] = set()
        self.exact_text: set[str] = set()
        self.sentences: set[str] = set()
        self.kept: list[Raw] = []
        self.keys: list[str] = []
        self.shingles: list[set[str] | None] = []  # full shingle sets, built only when compared
        self.sampled: list[set[str]] = []
        self.position: list[int] = []  # index into `kept` for each indexed block
        self.postings: defaultdict[str, list[int]] = defaultdict(list)
        self.grams: dict[int, set[str]] = {}  # character 5-grams of a block, built when a near-copy meets it

    def add(self, raw: Raw) -> None:
        if raw.kind in ("break", "heading"):
            self.kept.append(raw)
            return
        if raw.text in self.exact_text:  # most repeats are byte-for-byte: skip normalising them
            return
        self.exact_text.add(raw.text)
        key = dedup_key(raw.text)
        if not key or key in self.exact:
            return
        self.exact.add(key)
        if len(key) < _MIN_DUP_CHARS:
            self.kept.append(raw)
            return
        sampled = _anchored(key)
        duplicate_of, contained, nearby = self._find_similar(key, sampled)
        if duplicate_of is not None:
            # a near-copy often rewrites a paragraph and adds a sentence of its own: keep that one
            novel = self._novel_sentences(raw.text, duplicate_of)
            if novel is None:
                return
            raw = Raw(raw.kind, novel, bold_only=raw.bold_only)
            key = dedup_key(novel)
            sampled = _anchored(key)
            if len(key) < _MIN_DUP_CHARS or self._find_similar(key, sampled)[0] is not None:
                return
            contained = []
        # a copy already replaced by a fuller one has no place of its own left to take
        contained = [ident for ident in contained if self.kept[self.position[ident]] is not _DROPPED]
        if contained:
            # an earlier, shorter copy (often a truncated chunk): put the fuller one in its place,
            # and drop whatever was kept since that this one also says
            first = contained[0]
            earlier = self.kept[self.position[first]]
            self.kept[self.position[first]] = Raw(earlier.kind, raw.text)
            self.keys[first] = key
            self.shingles[first] = None
            self.sampled[first] = sampled
            for shingle in sampled:
                posting = self.postings[shingle]
                if first not in posting:
                    posting.append(first)
            for ident in nearby:
                pos = self.position[ident]
                if ident <= first or self.kept[pos] is _DROPPED:
                    continue
                mine, other = self._pair(key, sampled, ident)
                if ident in contained or len(mine & other) >= _CONTAIN_DUP * len(other):
                    self.kept[pos] = _DROPPED
            self._remember_sentences(sentence_pieces(raw.text))
            return
        pieces = sentence_pieces(raw.text)
        text = self._without_seen_sentences(raw.text, pieces)
        if text is None:
            return
        if text != raw.text:
            raw = Raw(raw.kind, text, bold_only=raw.bold_only)
            key = dedup_key(text)
            sampled = _anchored(key)
            if self._find_similar(key, sampled)[0] is not None:
                return
            pieces = sentence_pieces(text)
        self._remember_sentences(pieces)
        ident = len(self.shingles)
        self.keys.append(key)
        self.shingles.append(None)
        self.sampled.append(sampled)
        self.position.append(len(self.kept))
        postings = self.postings
        for shingle in sampled:
            postings[shingle].append(ident)
        self.kept.append(raw)

    def _pair(self, key: str, sampled: set[str], ident: int) -> tuple[set[str], set[str]]:
        """Shingle sets to compare: the anchored samples, or full sets when a sample is too small to judge."""
        other = self.sampled[ident]
        if len(sampled) >= _MIN_SAMPLE and len(other) >= _MIN_SAMPLE:
            return sampled, other
        shingles = self.shingles[ident]
        if shingles is None:
            shingles = self.shingles[ident] = all_shingles(self.keys[ident])
        return all_shingles(key), shingles

    def _find_similar(self, key: str, sampled: set[str]) -> tuple[int | None, list[int], Counter[int]]:
        """The block this one repeats (if any), the earlier blocks it contains, and all that share a shingle."""
        postings = self.postings
        counts = Counter(
            chain.from_iterable(
                posting
                for shingle in sampled
                if (posting := postings.get(shingle)) is not None and len(posting) <= _MAX_POSTING
            )
        )
        contained: list[int] = []
        own_half = max(1, len(sampled) // 2)
        all_sampled = self.sampled
        for cand, shared in sorted(counts.items()):  # earliest first, whatever the hash seed
            # at least half of the smaller sample in common, or it cannot be a near-copy
            if shared < own_half and shared < max(1, len(all_sampled[cand]) // 2):
                continue
            mine, other = self._pair(key, sampled, cand)
            inter = len(mine & other)
            if inter >= _CONTAIN_DUP * len(other) and len(key) >= len(self.keys[cand]) + _MIN_SENTENCE_CHARS:
                # this copy says all the earlier one does and at least a sentence more: the fuller one wins
                contained.append(cand)
                continue
            if inter / (len(mine) + len(other) - inter) >= _JACCARD_DUP or inter >= _CONTAIN_DUP * len(mine):
                return cand, [], counts
            if inter >= _CONTAIN_DUP * len(other):
                contained.append(cand)
        return None, sorted(contained), counts

    def _novel_sentences(self, text: str, ident: int) -> str | None:
        """The sentences of `text` that block `ident` does not already say (most of their 5-grams absent)."""
        grams = self.grams.get(ident)
        if grams is None:
            grams = self.grams[ident] = _grams(self.keys[ident])
        novel = []
        for piece in sentence_pieces(text):
            key = dedup_key(piece)
            if len(key) < _MIN_SENTENCE_CHARS or piece.strip() in self.sentences:
                continue
            own = _grams(key)
            if len(own & grams) < _NOVEL_SHARE * len(own):
                novel.append(piece)
        return "".join(novel).strip() or None

    def _without_seen_sentences(self, text: str, pieces: list[str]) -> str | None:
        """Drop sentences already said; None when nothing new is left."""
        keys = [piece.strip() for piece in pieces]
        seen = self.sentences
        drop = [len(k) >= _MIN_SENTENCE_CHARS and k in seen for k in keys]
        if not any(drop):
            return text
        rest = "".join(p for p, d in zip(pieces, drop, strict=True) if not d).strip()
        if len(dedup_key(rest)) < _MIN_SENTENCE_CHARS:
            return None
        return rest

    def _remember_sentences(self, pieces: list[str]) -> None:
        # repeated chunks are byte-for-byte copies, so sentences skip NFKC: this runs on every block
        self.sentences.update(key for piece in pieces if len(key := piece.strip()) >= _MIN_SENTENCE_CHARS)


_DROPPED = Raw("break", "")


def _dedupe_python(raws: list[Raw]) -> list[Raw]:
    """`dedupe` in Python: the reference the compiled one must equal, and what runs without it."""
    deduper = _Deduper()
    for raw in raws:
        deduper.add(raw)
    return [raw for raw in deduper.kept if raw is not _DROPPED]


# The same deduper in C (`make` builds it): near half of ingest's CPU was this module's sets of
# 3- and 5-character strings, and its sentence_pieces calls. It calls back `fold` and the
# `sentence_pieces` it is given (its own, in C), and makes `Raw`s.
try:
    from bot.content._near_duplicates_c import dedupe as _dedupe_c
    from bot.content._near_duplicates_c import sentence_pieces as _sentence_pieces_c
except ImportError:
    _dedupe_c = _sentence_pieces_c = None

NATIVE = _dedupe_c is not None


def dedupe(raws: list[Raw]) -> list[Raw]:
    """Keep the first (or the complete, if the first was truncated) of near-identical blocks."""
    if _dedupe_c is None:
        return _dedupe_python(raws)
    return _dedupe_c(raws, Raw, _DROPPED, _sentence_pieces_c, fold)
