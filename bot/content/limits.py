"""Discord's size limits and cutting text to fit them, without any Discord import (services cut to them too).

Discord rejects an over-long message outright, so every reply is cut here first:
cleanly, at a sentence or word boundary where one is near, and always marked with an
ellipsis so a reader knows there is more.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.content.shorten import ELLIPSIS, cut

__all__ = ["ELLIPSIS", "cut"]  # cut and its ellipsis are part of this module's interface

CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FOOTER = 2048
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_AUTHOR = 256
EMBED_URL = 2048  # the embed's link (and image URLs); longer, Discord refuses the whole message
EMBED_FIELDS = 25
EMBED_TOTAL = 6000
CHOICES = 25
CHOICE_NAME = 100
CHOICE_VALUE = 100
BUTTON_LABEL = 80
BUTTON_URL = 512
# A Markdown link in a list entry: ten entries share one 4,096-character description, so a
# longer link would crowd out the others (the title is then shown unlinked).
LIST_LINK = 512
THREAD_NAME = 100


def joined(items: Sequence[str], limit: int, separator: str = " ") -> str:
    """As many whole `items` as fit in `limit` characters, then an ellipsis if any were left out.

    For lists whose items must not be cut in the middle (tags shown as `code`); when not even
    the first item fits beside the ellipsis, the list is cut like any text.
    """
    if sum(map(len, items)) + len(separator) * max(0, len(items) - 1) <= limit:
        return separator.join(items)
    tail = len(separator) + len(ELLIPSIS)  # room the closing " …" needs
    count, used = 0, 0
    for item in items:
        width = len(item) + (len(separator) if count else 0)
        if used + width + tail > limit:
            break
        count, used = count + 1, used + width
    if count == 0:
        return cut(separator.join(items), limit)
    return separator.join([*items[:count], ELLIPSIS])


def one_line(text: str) -> str:
    """Collapse whitespace so a gist fits in a list entry."""
    return " ".join(text.split())
