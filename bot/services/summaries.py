"""Which summary a reader sees for a post, and where it came from: one service for the bot.

Summaries are made the first time someone asks for one, never at ingest: summarising every
post up front would triple a cold ingest's work for summaries most posts never need. Each is
cached with what it was made from — the post's content hash and derived version, the producer
(extractive, or the model and prompt) and its version — so an edited post, a new summariser or
another model makes a new one, and an old one is never shown for new content.

Both producers run through one `SingleFlight`: a fan-out of a new post to many channels, or
several readers asking at once, summarise it once (one model request, not one per channel),
and nothing is kept per post once the work is done.

The order of preference: a language model's (when one is configured), the extractive summary,
and for a post with no cleaned body stored, its description. A model that fails is logged and
the extractive summary is shown with a note saying so. When the post's description is an abstract
its author wrote (not a copy of its opening, see `bot.content.abstracts`), it comes along as
`ShownSummary.author`, for the reader to see above Kiji's own, labelled as the author's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bot.content.abstracts import author_abstract
from bot.content.cleaning import CleanedBody
from bot.content.summarize import SUMMARIZER_VERSION, Summary, summarize_all
from bot.models import Post
from bot.services.llm import LLMClient, LLMError
from bot.services.lookup import gist
from bot.services.singleflight import SingleFlight
from bot.store import KijiStore

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"  # the cache's producer name for extractive summaries


@dataclass(frozen=True, slots=True)
class ShownSummary:
    text: str  # empty when the post has no usable prose
    source: str  # an i18n key: summary_source.extractive | .description | .llm | .llm_fallback
    model: str | None = None  # the model that wrote it (summary_source.llm)
    author: str | None = None  # the author's own abstract (the post's description), when it is one


class SummaryService:
    """Summaries for the bot's embeds and announcements, over the store and an optional model.

    The bot builds one and keeps it for its lifetime; cogs and the announcer ask it.
    """

    def __init__(self, store: KijiStore, llm: LLMClient | None = None) -> None:
        self.store = store
        self.llm = llm
        self.flights = SingleFlight()

    @property
    def may_be_slow(self) -> bool:
        """A model may take seconds to answer: an interaction should be deferred first."""
        return self.llm is not None

    async def shown(self, post: Post, length: str) -> ShownSummary:
        """The summary to show for `post` at `length` ("short", "standard" or "long"), and the author's."""
        shown = await self._own(post, length)
        if shown.source == "summary_source.description" or not post.description:
            return shown  # the description is shown already, or there is none
        stored = await self.store.get_text_and_outline(post.id)
        author = author_abstract(post.description, stored.text, post.title) if stored else None
        return ShownSummary(shown.text, shown.source, shown.model, author)

    async def _own(self, post: Post, length: str) -> ShownSummary:
        model_failed = False
        if self.llm is not None:
            llm = self.llm
            try:
                answer = await self.flights.run((llm.source, post.id, length), lambda: self._model(llm, post, length))
            except LLMError as exc:
                log.warning("language model summary of post %d failed: %s; using the extractive one", post.id, exc)
                model_failed = True
            else:
                if answer is not None:
                    return ShownSummary(answer, "summary_source.llm", llm.config.model)
        sentences = await self.extractive(post, length)
        if sentences is None:
            return ShownSummary(gist(post), "summary_source.description")
        source = "summary_source.llm_fallback" if model_failed else "summary_source.extractive"
        return ShownSummary(Summary(sentences).text, source)

    async def extractive(self, post: Post, length: str) -> tuple[str, ...] | None:
        """The extractive summary's sentences (empty: no prose to summarise), or None if the post is gone."""
        made = await self.flights.run((EXTRACTIVE, post.id, length), lambda: self._extractive(post, length))
        return None if made is None else made.get(length)

    async def _extractive(self, post: Post, length: str) -> Mapping[str, tuple[str, ...]] | None:
        cached = await self.store.get_summary(post.id, length, EXTRACTIVE, version=SUMMARIZER_VERSION)
        if cached is not None:
            return {length: cached}
        stored = await self.store.get_text_and_outline(post.id)
        if stored is None:
            return None
        body = CleanedBody.from_outline(stored.text, stored.outline)
        # Every length at once (one pass over the body), in a thread: a long post takes tens of
        # milliseconds of CPU, which the event loop owes to everyone else's interactions. An
        # unavailable summary is cached as no sentences: "no summary", not garbage.
        summaries = await asyncio.to_thread(summarize_all, post.title, body, subjects=post.tags)
        made = {str(kind): summary.sentences if summary.available else () for kind, summary in summaries.items()}
        await self.store.put_summaries(post.id, EXTRACTIVE, SUMMARIZER_VERSION, made, made_from=stored.made_from)
        return made

    async def _model(self, llm: LLMClient, post: Post, length: str) -> str | None:
        """The model's summary, cached or asked for; None when there is no text to give it."""
        cached = await self.store.get_summary(post.id, length, llm.source, version=llm.version)
        if cached:
            return cached[0]
        stored = await self.store.get_text_and_outline(post.id)
        if stored is None or not stored.text.strip():
            return None
        answer = await llm.summarize(post.title, stored.text, length)
        # Cached only if the post is still what the model read (it may have been re-ingested meanwhile).
        await self.store.put_summaries(post.id, llm.source, llm.version, {length: [answer]}, made_from=stored.made_from)
        return answer
