"""Discord's size limits and cutting text to fit them, without any Discord import.

Discord rejects an over-long message outright, so every reply is cut here first:
cleanly, at a sentence or word boundary where one is near, and always marked with an
ellipsis so a reader knows there is more.
"""

from __future__ import annotations

import re

CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FOOTER = 2048
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_AUTHOR = 256
EMBED_FIELDS = 25
EMBED_TOTAL = 6000
CHOICES = 25
CHOICE_NAME = 100
CHOICE_VALUE = 100
BUTTON_LABEL = 80
BUTTON_URL = 512
THREAD_NAME = 100

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


def one_line(text: str) -> str:
    """Collapse whitespace so a gist fits in a list entry."""
    return " ".join(text.split())
