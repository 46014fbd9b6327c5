"""Short excerpts around a search hit, so a result list shows why each post matched."""

from __future__ import annotations

from bot.content.search_tokens import query_terms
from bot.content.shorten import cut
from bot.content.textnorm import nfkc

WINDOW = 60


def snippet(text: str, query: str, width: int = WINDOW) -> str:
    """About 2×`width` characters of `text` around the first occurrence of a query term.

    Searching happens on NFKC/casefolded text, so the excerpt is shown NFKC-normalised
    too (full-width Latin becomes ordinary Latin); positions then line up exactly.
    """
    shown = " ".join(nfkc(text).split())
    folded, origin = _casefolded(shown)
    for term in query_terms(query):
        found = folded.find(term)
        if found >= 0:
            if origin is None:
                position, hit_end = found, found + len(term)
            else:
                position, hit_end = origin[found], origin[found + len(term) - 1] + 1
            break
    else:
        return cut(shown, 2 * width)
    start = max(0, position - width)
    end = min(len(shown), hit_end + width)
    excerpt = shown[start:end].strip()
    return ("…" if start > 0 else "") + excerpt + ("…" if end < len(shown) else "")


def _casefolded(shown: str) -> tuple[str, list[int] | None]:
    """`shown` casefolded as query terms are, and for each folded character the index it came from.

    None when folding kept every character one character long (almost always), so positions
    already line up; "ß" → "ss" or "İ" → "i̇" would otherwise shift the excerpt off the hit.
    """
    folded = shown.casefold()
    if len(folded) == len(shown):
        return folded, None
    origin = [index for index, character in enumerate(shown) for _ in character.casefold()]
    return folded, origin
