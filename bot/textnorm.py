"""Text normalisation shared by tags, categories, search and autocomplete.

One definition of "the same text" keeps tag keys, search terms and autocomplete
matching consistent: "ＡＩ", "ai" and "AI" must all meet in one place.
"""

from __future__ import annotations

import unicodedata


def normalize_key(text: str) -> str:
    """NFKC + casefold + trimmed: the identity of a tag, category or search term."""
    return unicodedata.normalize("NFKC", text).casefold().strip()
