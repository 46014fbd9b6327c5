"""Shortening text to a number of characters, at a sentence or word boundary where one is near.

Content needs it for excerpts and the Discord side for every field it sends; it lives here,
below both, so neither has to import the other.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
# Where a cut may fall without splitting a word or a sentence mid-way.
_SOFT_BREAK = re.compile(r"[。！？!?．.、，,\s」』）)]")


def cut(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters, ending in an ellipsis if cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    room = text[: limit - 1]
    if _SOFT_BREAK.match(text, limit - 1):  # the room already ends at a boundary
        return room.rstrip() + ELLIPSIS
    # Prefer a boundary in the last fifth of the room over an arbitrary character.
    floor = int(len(room) * 0.8)
    best = -1
    for match in _SOFT_BREAK.finditer(room, floor):
        best = match.end()
    if best > 0:
        room = room[:best]
    return room.rstrip() + ELLIPSIS
