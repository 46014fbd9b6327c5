"""Which summary a reader sees for a post, and where it came from.

Summaries are computed at ingest and stored, so serving one is a read. The order of
preference: a language model's (when configured; see `bot.llm`), the stored extractive
summary, and for a post not yet summarised, its description.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.lookup import gist
from bot.store import Post, Store
from bot.summarize import Summary


@dataclass(frozen=True, slots=True)
class ShownSummary:
    text: str  # empty when the post has no usable prose
    source: str  # an i18n key: summary_source.extractive | .description | .llm | .llm_fallback
    model: str | None = None


async def stored_summary(store: Store, post: Post, length: str) -> ShownSummary:
    sentences = await store.get_summary(post.id, length)
    if sentences is not None:
        return ShownSummary(Summary(sentences).text, "summary_source.extractive")
    # Not summarised yet (ingest stores summaries, so only a post caught mid-ingest): the
    # description, when it says more than the title.
    return ShownSummary(gist(post), "summary_source.description")
