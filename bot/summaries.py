"""Which summary a reader sees for a post, and where it came from.

Summaries are computed at ingest and stored, so serving one is a read. The order of
preference: a language model's (when configured; see `bot.llm`), the stored extractive
summary, and for a store ingested before summaries existed, the post's description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.lookup import gist
from bot.store import Post, Store

_SENTENCES = {"short": 1, "standard": 3, "long": 6}


@dataclass(frozen=True, slots=True)
class ShownSummary:
    text: str  # empty when the post has no usable prose
    source: str  # an i18n key: summary_source.extractive | .description | .llm | .llm_fallback
    model: str | None = None


def join_sentences(sentences: tuple[str, ...] | list[str]) -> str:
    """Japanese sentences run on without spaces; Latin-script ones need one between them."""
    out = ""
    for sentence in sentences:
        if out and out[-1] in ".!?\"')" and sentence[:1].isascii():
            out += " "
        out += sentence
    return out


async def stored_summary(store: Store, post: Post, length: str) -> ShownSummary:
    sentences = await store.get_summary(post.id, length)
    if sentences is not None:
        return ShownSummary(join_sentences(sentences), "summary_source.extractive")
    description = gist(post)
    if description:
        return ShownSummary(description, "summary_source.description")
    # A store ingested before summaries existed: the opening of the cleaned text.
    opening = re.findall(r"[^\n。！？!?]+[。！？!?]", await store.get_text(post.id) or "")
    return ShownSummary("".join(opening[: _SENTENCES.get(length, 3)]).strip(), "summary_source.extractive")
