"""Short excerpts around a search hit, so a result list shows why each post matched."""

from __future__ import annotations

from bot import limits
from bot.fts import query_terms
from bot.textnorm import nfkc

WINDOW = 60


def snippet(text: str, query: str, width: int = WINDOW) -> str:
    """About 2×`width` characters of `text` around the first occurrence of a query term.

    Searching happens on NFKC/lower-cased text, so the excerpt is shown NFKC-normalised
    too (full-width Latin becomes ordinary Latin); positions then line up exactly.
    """
    shown = " ".join(nfkc(text).split())
    folded = shown.lower()
    position = -1
    term_length = 0
    for term in query_terms(query):
        position = folded.find(term.lower())
        if position >= 0:
            term_length = len(term)
            break
    if position < 0:
        return limits.cut(shown, 2 * width)
    start = max(0, position - width)
    end = min(len(shown), position + term_length + width)
    excerpt = shown[start:end].strip()
    return ("…" if start > 0 else "") + excerpt + ("…" if end < len(shown) else "")
