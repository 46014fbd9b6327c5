"""Which summary a reader sees for a post, and where it came from.

Extractive summaries are made the first time someone asks for a post's summary, from
the cleaned body the store already holds, then cached against the post's content and
the summariser's version. Summarising every post at ingest would triple the cold
ingest's work for summaries most posts never need; one post costs a few milliseconds.
The order of preference: a language model's (when configured; see `bot.services.llm`), the
extractive summary, and for a post with no cleaned body stored, its description.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.content.cleaning import CleanedBody
from bot.content.summarize import SUMMARIZER_VERSION, Summary, summarize_all
from bot.models import Post
from bot.services.lookup import gist
from bot.services.singleflight import SingleFlight
from bot.store import Store


@dataclass(frozen=True, slots=True)
class ShownSummary:
    text: str  # empty when the post has no usable prose
    source: str  # an i18n key: summary_source.extractive | .description | .llm | .llm_fallback
    model: str | None = None


async def extractive_summary(
    store: Store, post: Post, length: str, flights: SingleFlight | None = None
) -> tuple[str, ...] | None:
    """The summary's sentences (empty: the post has no prose to summarise), or None if the post is gone.

    With `flights`, concurrent first requests for one post summarise it once.
    """
    cached = await store.get_summary(post.id, length, version=SUMMARIZER_VERSION)
    if cached is not None:
        return cached

    async def make() -> dict[str, tuple[str, ...]] | None:
        stored = await store.get_text_and_outline(post.id)
        if stored is None:
            return None
        body = CleanedBody.from_outline(stored.text, stored.outline)
        # An unavailable summary is cached as no sentences: "no summary", not garbage.
        made = {
            str(kind): summary.sentences if summary.available else ()
            for kind, summary in summarize_all(post.title, body).items()
        }
        await store.put_summaries(post.id, "extractive", SUMMARIZER_VERSION, made, made_from=stored.made_from)
        return made

    made = await (flights.run(("extractive", post.id), make) if flights is not None else make())
    return None if made is None else made.get(length)


async def shown_summary(store: Store, post: Post, length: str, flights: SingleFlight | None = None) -> ShownSummary:
    sentences = await extractive_summary(store, post, length, flights)
    if sentences is not None:
        return ShownSummary(Summary(sentences).text, "summary_source.extractive")
    return ShownSummary(gist(post), "summary_source.description")
