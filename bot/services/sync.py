"""One place keeps every blog in sync: its sources, the ingest process, the watcher, push webhooks.

A push, a poll and a file event take the same path: they ask for a blog (`request`), and that
blog's own lane polls its source and ingests what changed, then tells the listeners ("posts of
this blog may have become visible": the bot wakes its announcer). Nothing here knows Discord,
and nothing climbs back into it: the bot is only one listener.

Each blog syncs on its own lane, a few at once (`concurrency`), each within its own time limit:
a git server that hangs mid-clone holds its own lane, never the others' announcements, and never
the bot's start (the first sync of every blog runs in the background while the bot logs in).

Several processes may share one PostgreSQL store: only the one holding the sync lease syncs
(`holds_lease`); a push another process verified reaches it, and every process's cached tag and
title lists are dropped after its ingests, through the store's cluster events (`bot.services.cluster`).

The ingest process is restarted when it dies: at once the first time, then after a backoff on
the injected clock that doubles while it keeps dying; the bot serves meanwhile. Stopping lets
an ingest in flight end after its batch (`IngestProcess.finish_soon`); polls are cancelled.

Blogs that left the configuration: the subscriptions following one are paused with a reason
that says so (and resume when it is configured again); its stored posts stay readable, labelled
as no longer configured (`bot.discord.blogs.blog_labels`), rather than vanishing from every list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from bot.clock import SYSTEM_CLOCK, Clock
from bot.services.blogs import SourceOutcome, failed_post_line, merged, record_failure, sync_source
from bot.services.cluster import ClusterRelay, always_holds
from bot.services.ingest import IngestReport
from bot.services.ingest_process import IngestInterrupted, IngestProcess
from bot.services.post_watcher import PostWatcher
from bot.services.webhooks import PushWebhook, WebhookConfig
from bot.sources.abilities import PollsOnRequest
from bot.sources.base import Changes, Source
from bot.sources.folder import FolderSource
from bot.sources.site_config import Site, load_site
from bot.sources.specs import redact
from bot.store import KijiStore, StoreError

log = logging.getLogger(__name__)

# Blogs synced at once: enough that one hung source leaves the others lanes to spare.
CONCURRENCY = 4
# One blog's poll and ingest, at most. Above the git runner's own limit for a clone (900 s), so a
# slow first clone still finishes; a source that hangs past it is cancelled and tried at the next poll.
SOURCE_TIMEOUT_S = 1200.0
# After the ingest process died twice in a row: wait this long (doubling) before the next try.
RESTART_BASE_S = 2.0
RESTART_MAX_S = 300.0
# How long stopping waits for ingests in flight to end after their batch.
STOP_GRACE_S = 15.0

Listener = Callable[[SourceOutcome], None]
T = TypeVar("T")


class _Lane:
    """One blog's turn to sync: asked for (`wanted`) and done (`done`) count up, so callers can wait."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.due = asyncio.Event()
        self.wanted = 0
        self.done = 0
        self.ingesting = False
        self.task: asyncio.Task[None] | None = None


class BlogSync:
    """Keeps the store in line with every configured source, for as long as it runs (`start` … `stop`)."""

    def __init__(
        self,
        store: KijiStore,
        sources: Sequence[Source],
        *,
        poll_seconds: float,
        load: Callable[[Path], Site] = load_site,
        clock: Clock = SYSTEM_CLOCK,
        webhook: WebhookConfig | None = None,
        ingester: IngestProcess | None = None,
        concurrency: int = CONCURRENCY,
        source_timeout_s: float = SOURCE_TIMEOUT_S,
        watch_files: bool = True,
        holds_lease: Callable[[], bool] = always_holds,
        ingest_idle_s: float | None = None,
    ) -> None:
        self.store = store
        # Whether this process holds the sync lease now: only the holder syncs; a push another process
        # verified reaches it through the store's cluster events (`bot.services.cluster`).
        self.holds_lease = holds_lease
        self.sources: list[Source] = list(sources)
        self.load = load
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.source_timeout_s = source_timeout_s
        self.ingester = ingester or IngestProcess(store, clock=clock, idle_s=ingest_idle_s)
        self.webhook_config = webhook
        self.webhook: PushWebhook | None = None
        self.outcomes: dict[str, SourceOutcome] = {}  # each blog's last outcome, by source name
        self._registered_sites: dict[str, Site] = {}  # folder blogs' sites read by `register`, before any sync
        self.source_ids: dict[str, int] = {}  # the store's id of each configured blog, once started
        self.listeners: list[Listener] = []
        self.syncs = 0
        # File events only where a source is a folder on this disk; every source is polled.
        folders = {source.site_root: source.name for source in self.sources if isinstance(source, FolderSource)}
        self._by_folder = folders
        self.watcher = PostWatcher(
            self._files_changed, list(folders), poll_seconds, clock=clock, watch_files=watch_files
        )
        self._lanes = {source.name: _Lane(source) for source in self.sources}
        self._gate = asyncio.Semaphore(concurrency)
        self._progress = asyncio.Condition()
        self._deaths = 0  # the ingest process's deaths in a row
        self._timers: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.cluster = ClusterRelay(
            store, push=self.push, request_all=self.request, holds_lease=lambda: self.holds_lease()
        )

    # -- what the bot and its commands read --------------------------------------------------

    @property
    def site(self) -> Site | None:
        """The first configured blog's site as last read: its time zone is the one dates are shown in."""
        sites = self.sites
        return next((site for s in self.sources if (site := sites.get(s.name)) is not None), None)

    @property
    def sites(self) -> dict[str, Site]:
        synced = {name: outcome.site for name, outcome in self.outcomes.items() if outcome.site is not None}
        return self._registered_sites | synced

    @property
    def last_report(self) -> IngestReport | None:
        """Every blog's last ingest added up (None before any blog was synced)."""
        if not self.outcomes:
            return None
        return merged([self.outcomes[s.name] for s in self.sources if s.name in self.outcomes])

    @property
    def running(self) -> bool:
        return any(lane.task is not None and not lane.task.done() for lane in self._lanes.values())

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start syncing every blog in the background, then the watcher and the webhook; returns at once.

        The store must be connected. Subscriptions to blogs no longer configured are paused now.
        """
        self._stopping = False
        await self.serve()
        self.ingester.start()
        for lane in self._lanes.values():
            lane.task = asyncio.create_task(self._run_lane(lane), name=f"kiji-sync-{lane.source.name}")
            self._ask(lane)
        self.watcher.start()

    async def serve(self) -> None:
        """What every process of the bot does, holding the sync lease or not: know the blogs, hear the
        other processes (cache drops; pushes to sync when this one holds the lease) and take push
        webhooks, which a process without the lease hands to the one with it."""
        await self.register()
        await self.cluster.start()
        if self.webhook is None:
            await self._start_webhook()

    async def register(self) -> None:
        """Know the configured blogs' ids (commands label posts by them) without syncing: what a process
        that does not hold the sync lease needs. Subscriptions to blogs no longer configured are paused."""
        self.source_ids = {s.name: await self.store.register_source(s.name, s.display) for s in self.sources}
        for source in self.sources:  # a folder's site is cheap to read: dates show in its time zone before a sync
            if isinstance(source, FolderSource) and source.name not in self._registered_sites:
                try:
                    self._registered_sites[source.name] = self.load(source.site_root)
                except Exception as exc:  # the sync reports a broken site; here it only stays unknown
                    log.debug("could not read the site of %s yet: %s", redact(source.display), exc)
        paused, resumed = await self.store.follow_configured_blogs(list(self.source_ids.values()))
        if paused:
            log.warning("paused %d subscriptions to blogs that are no longer configured", len(paused))
        if resumed:
            log.info("resumed %d subscriptions to blogs configured again", len(resumed))

    async def stop(self) -> None:
        """Stop serving (webhook, cluster events) and syncing."""
        self._stopping = True
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        await self.cluster.stop()
        await self.stop_syncing()

    async def stop_syncing(self) -> None:
        """Stop asking, cancel polls in flight, let ingests in flight end after their batch, stop the
        process; what `serve` started goes on (the sync lease went to another process)."""
        self._stopping = True
        await self.watcher.stop()
        for timer in list(self._timers):
            timer.cancel()
        self.ingester.finish_soon()
        lanes = [lane for lane in self._lanes.values() if lane.task is not None]
        for lane in lanes:
            if not lane.ingesting:
                lane.task.cancel()  # type: ignore[union-attr]
        tasks = [lane.task for lane in lanes if lane.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for lane in lanes:
            lane.task = None
        await self.ingester.stop()

    async def _start_webhook(self) -> None:
        """Listen for push webhooks when configured; a port in use is logged, polling goes on."""
        if self.webhook_config is None:
            return
        webhook = PushWebhook(self.webhook_config, self.sources, self.cluster.pushed)
        try:
            await webhook.start()
        except OSError as exc:
            log.error(
                "the push webhook cannot listen on %s:%d (%s); new posts still arrive every %g s",
                self.webhook_config.host,
                self.webhook_config.port,
                exc.strerror or exc,
                self.poll_seconds,
            )
            return
        self.webhook = webhook

    # -- asking for a sync -------------------------------------------------------------------

    def request(self, names: Sequence[str] | None = None) -> None:
        """Sync these blogs (None: every one) as soon as their lane is free; returns at once."""
        for lane in self._chosen(names):
            self._ask(lane)

    def push(self, source_name: str) -> None:
        """A push arrived for `source_name`: poll it now, even while it backs off after failures."""
        lane = self._lanes.get(source_name)
        if lane is None:
            return
        if isinstance(lane.source, PollsOnRequest):
            lane.source.request_poll()
        self._ask(lane)

    async def sync_now(self, names: Sequence[str] | None = None) -> IngestReport:
        """Sync these blogs (None: every one) and wait until each has had its turn; their reports added up."""
        lanes = self._chosen(names)
        targets = [(lane, self._ask(lane)) for lane in lanes]
        async with self._progress:
            await self._progress.wait_for(
                lambda: all(lane.done >= target or self._stopping for lane, target in targets)
            )
        return merged([self.outcomes[lane.source.name] for lane in lanes if lane.source.name in self.outcomes])

    async def synced_once(self) -> IngestReport | None:
        """Wait until every blog has had its first turn since `start` (whatever it came to); the reports added up."""
        async with self._progress:
            await self._progress.wait_for(
                lambda: all(lane.done >= 1 for lane in self._lanes.values()) or self._stopping
            )
        return self.last_report

    def _chosen(self, names: Sequence[str] | None) -> list[_Lane]:
        if names is None:
            return list(self._lanes.values())
        return [self._lanes[name] for name in names if name in self._lanes]

    def _ask(self, lane: _Lane) -> int:
        lane.wanted += 1
        lane.due.set()
        return lane.wanted

    def _files_changed(self, roots: Sequence[Path] | None) -> None:
        self.request(None if roots is None else [self._by_folder[root] for root in roots if root in self._by_folder])

    # -- one blog's lane ---------------------------------------------------------------------

    async def _run_lane(self, lane: _Lane) -> None:
        while not self._stopping:
            await lane.due.wait()
            lane.due.clear()
            target = lane.wanted
            outcome = None
            try:
                if self.holds_lease():  # else the process holding the sync lease syncs this blog
                    async with self._gate:
                        outcome = await self._sync(lane)
            except IngestInterrupted:
                return  # stopping: the next start syncs this blog again
            finally:
                async with self._progress:
                    lane.done = max(lane.done, target)
                    self._progress.notify_all()
            if outcome is not None:
                self._record(outcome)
                await self.cluster.ingested(outcome)

    async def _sync(self, lane: _Lane) -> SourceOutcome | None:
        source = lane.source
        try:
            return await self._within(self.source_timeout_s, self._sync_retrying(lane))
        except TimeoutError:
            error = f"took over {self.source_timeout_s:g} s and was stopped; trying again at the next poll"
            return await record_failure(self.store, source, error, self._last_site(source))
        except BrokenProcessPool as exc:
            delay = self._restart_later(lane)
            error = f"{exc}; trying again in {delay:g} s"
            return await record_failure(self.store, source, error, self._last_site(source))
        except StoreError as exc:  # every blog meets it; say so, and try again at the next poll
            log.error("could not sync %s: %s", redact(source.display), exc)
            return None

    async def _sync_retrying(self, lane: _Lane) -> SourceOutcome:
        """One sync; if the ingest process (or a parse worker) died under it, once more at once."""
        try:
            outcome = await self._sync_once(lane)
        except BrokenProcessPool as exc:
            log.warning("%s; ingesting %s again", exc, redact(lane.source.display))
            self._deaths += 1
            outcome = await self._sync_once(lane)
        self._deaths = 0
        return outcome

    async def _sync_once(self, lane: _Lane) -> SourceOutcome:
        async def run_in_process(site: Site, changes: Changes, source_id: int) -> IngestReport:
            lane.ingesting = True  # from here, stopping waits for the batch in flight instead of cancelling
            try:
                return await self.ingester.ingest(site, changes, source_id, self.store.now())
            finally:
                lane.ingesting = False

        # a web blog's pages are extracted and cleaned in the ingest process's pool, as files are parsed there
        executor = self.ingester.executor
        return await sync_source(self.store, lane.source, load=self.load, run=run_in_process, executor=executor)

    def _restart_later(self, lane: _Lane) -> float:
        """The ingest process keeps dying: try this blog again after a backoff that doubles each time."""
        self._deaths += 1
        delay = min(RESTART_MAX_S, RESTART_BASE_S * 2 ** max(0, self._deaths - 2))

        async def ask_after() -> None:
            await self.clock.sleep(delay)
            if not self._stopping:
                self._ask(lane)

        timer = asyncio.create_task(ask_after(), name=f"kiji-sync-retry-{lane.source.name}")
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        return delay

    async def _within(self, seconds: float, work: Awaitable[T]) -> T:
        """`work`, cancelled with TimeoutError once `seconds` pass on the injected clock."""
        task = asyncio.ensure_future(work)
        timer = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not task.done():  # out of time, or the lane itself is cancelled (stopping)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            raise TimeoutError
        return task.result()

    def _last_site(self, source: Source) -> Site | None:
        outcome = self.outcomes.get(source.name)
        return outcome.site if outcome else None

    def _record(self, outcome: SourceOutcome) -> None:
        """Keep the blog's outcome, say what failed, and tell the listeners."""
        source = outcome.source
        self.syncs += 1
        if outcome.site is None and (earlier := self._last_site(source)) is not None:
            outcome = SourceOutcome(source, outcome.report, earlier, outcome.error)  # /about keeps its site
        self.outcomes[source.name] = outcome
        if outcome.error is not None:
            log.warning("could not update %s: %s", redact(source.display), outcome.error)
        for failure in outcome.report.failed if outcome.report else ():
            log.warning("%s", failed_post_line(outcome, failure.path, failure.error))
        for listener in self.listeners:
            try:
                listener(outcome)
            except Exception:
                log.exception("a listener of the blog sync failed")
