"""Processes sharing one store act as one bot: a push reaches the lease holder, caches follow ingests.

Several `kiji run` processes on one PostgreSQL store (issue 24, point 4): one of them holds the
sync lease and is the only one that syncs. A push webhook may be verified by any of them (a load
balancer picks one): a process that holds the lease syncs the blog at once, as a single process
always did; any other publishes "sync this blog" on the store's cluster events, and the holder's
relay asks its lane to sync it. After an ingest that changed posts, the holder publishes "posts
changed" and every process drops its cached tag and title lists, which autocomplete reads, so a
new tag shows up everywhere as soon as it is stored instead of up to a minute later.

A listener that was away (its connection dropped) hears `MISSED`: it drops its caches, and the
holder looks at every blog, since a push handed over meanwhile was lost.

`BlogSync` owns one relay; the hook for the lease is `BlogSync.holds_lease` (a function: does this
process hold the sync lease now?). Alone on a store, a process always holds it. On SQLite the
events stay in the one process, and the same code runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.services.blogs import SourceOutcome
from bot.sources.specs import redact
from bot.store import StoreError
from bot.store.cluster_events import MISSED, POSTS_CHANGED, SYNC, ClusterEvent
from bot.store.interface import ClusterEvents

log = logging.getLogger(__name__)


def always_holds() -> bool:
    """A process alone on its store (the default): it holds the sync lease as long as it runs."""
    return True


class ClusterRelay:
    """Hands pushes to the lease holder and tells every process when posts changed."""

    def __init__(
        self,
        store: ClusterEvents,
        *,
        push: Callable[[str], None],
        request_all: Callable[[], None],
        holds_lease: Callable[[], bool] = always_holds,
    ) -> None:
        self.store = store
        self._push = push
        self._request_all = request_all
        self.holds_lease = holds_lease
        self.handed_over = 0  # pushes this process verified and handed to the holder
        self._listening = False

    async def start(self) -> None:
        if not self._listening:
            await self.store.listen_events(self._heard)
            self._listening = True

    async def stop(self) -> None:
        if self._listening:
            self._listening = False
            await self.store.unlisten_events(self._heard)

    async def pushed(self, blog: str) -> None:
        """A verified push for `blog` (the webhook's trigger): sync it here if this process holds the lease,
        else hand it to the process that does. Returns once asked, so the webhook answers after that."""
        if self.holds_lease():
            log.info("fetching %s now", redact(blog))
            self._push(blog)
            return
        try:
            await self.store.publish_event(ClusterEvent(SYNC, blog))
        except StoreError as exc:
            log.error("could not hand the push for %s to the process holding the sync lease: %s", redact(blog), exc)
            return
        self.handed_over += 1
        log.info("handed the push for %s to the process holding the sync lease", redact(blog))

    async def ingested(self, outcome: SourceOutcome) -> None:
        """After this process's ingest of a blog: when posts changed, every process's cached lists are stale."""
        report = outcome.report
        if report is None or not (report.added or report.updated or report.removed):
            return
        try:
            await self.store.publish_event(ClusterEvent(POSTS_CHANGED))  # which blog does not matter to a cache
        except StoreError as exc:  # other processes' caches then expire on their own, within a minute
            log.warning("could not tell other processes that posts of %s changed: %s", redact(outcome.source.name), exc)

    def _heard(self, event: ClusterEvent) -> None:
        if event.kind in (POSTS_CHANGED, MISSED):
            self.store.drop_cached_lists()
        if not self.holds_lease():
            return
        if event.kind == SYNC and event.blog is not None:
            log.info("syncing %s: another process received its push", redact(event.blog))
            self._push(event.blog)
        elif event.kind == MISSED:
            self._request_all()
