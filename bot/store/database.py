"""`Store`: the async face of the SQLite file that the services, cogs and CLI talk to.

Every method hands one function of the aggregate modules (posts, search_index,
summary_cache, subscriptions, meta) to `connections.Database`: reads go to the read-only
connections and run while a write is in progress; writes queue on the one writer. What
"now" is comes from the injected clock, so tests choose the time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import aiosqlite

from bot.models import (
    DEFAULT_PLACEMENT,
    Delivery,
    FileState,
    Placement,
    Post,
    PostRecord,
    SearchHit,
    StoredBody,
    Subscription,
    TagCount,
)
from bot.store import meta, post_rows, posts, schema, search_index, subscriptions, summary_cache
from bot.store.cluster_events import StoreClusterEvents
from bot.store.connections import Database, explain
from bot.store.errors import StoreError
from bot.store.interface import WriteGate
from bot.store.leases import SyncLeases
from bot.store.location import SQLITE_SCHEME, StoreLocation
from bot.store.post_images import PostImages
from bot.store.scheduled import ScheduledMessages
from bot.store.schema import MIGRATIONS
from bot.store.search_index import RANKED_SEARCH_MAX, TITLE_NEEDLE_MAX
from bot.store.source_records import SourceRecords
from bot.store.subscriptions import delivery_nonce

__all__ = [
    "CACHE_SECONDS", "MIGRATIONS", "RANKED_SEARCH_MAX", "TITLE_NEEDLE_MAX", "Store", "StoreError", "delivery_nonce",
]  # fmt: skip


log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0

T = TypeVar("T")


class Store(ScheduledMessages, SyncLeases, StoreClusterEvents, PostImages, SourceRecords):
    """Typed async access to the SQLite file: `Store(path)`, then `await store.connect()`."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._database: Database | None = None
        # Tag counts and title lists feed every autocomplete keystroke; they change only
        # when a batch is written or a scheduled post comes due, so cache them briefly.
        self._generation = 0
        self._cache: dict[str, tuple[int, float, object]] = {}
        self.ranked_search_max = RANKED_SEARCH_MAX
        self._cache_writes: set[asyncio.Future[None]] = set()  # summary cache writes queued behind a busy writer

    @property
    def location(self) -> StoreLocation:
        """Where the store lives, as `open_store` was given it (`display` is safe to show)."""
        return StoreLocation(SQLITE_SCHEME, path=self.path)

    @property
    def database(self) -> Database:
        """The connections (for work that is a coroutine of an aiosqlite.Connection, such as tests holding a write)."""
        if self._database is None:
            raise StoreError(f"the store {self.path} is not connected; call connect() first")
        return self._database

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def now(self) -> float:
        """The store's clock: what it stamps writes with and shows scheduled posts by."""
        return self._clock()

    @contextlib.asynccontextmanager
    async def writes_of_another_process(self) -> AsyncIterator[None]:
        """While another process (the bot's ingest) writes one transaction: this process's writes wait.

        Reads go on; a summary cache write is queued behind it as behind any busy writer, and the
        cached tag counts and titles are dropped when it is done, as after a batch written here.
        """
        async with self.database.holding_writes():
            try:
                yield
            finally:
                self._generation += 1

    def take_turns_with(self, gate: WriteGate) -> None:
        """In the ingest process: ask the bot's process (`gate`) before each write, so both queue as one."""
        self.database.write_gate = gate

    async def _read(self, work: Callable[..., Awaitable[T]], *args: object) -> T:
        return await self.database.read(work, *args)

    async def _write(self, work: Callable[..., Awaitable[T]], *args: object) -> T:
        return await self.database.write(work, *args)

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    async def open(
        cls, path: Path | str, create: bool = True, clock: Callable[[], float] = time.time, check: bool = True
    ) -> Store:
        """A connected, migrated store (for the CLI and tests; the bot connects in setup_hook)."""
        store = cls(path, clock=clock)
        await store.connect(create=create, check=check)
        return store

    async def connect(self, create: bool = True, check: bool = True) -> None:
        """Open, migrate and check the file. Raises StoreError with a fix-it message.

        With `create=False` a missing file is an error rather than a new empty store: a
        command that only reads would otherwise answer "no posts" from a mistyped path. A
        file this process cannot write opens read-only: reads work, writes say why they cannot.
        `check=False` skips the integrity check (seconds on a large file) for a second process
        opening a file its first one has just checked.
        """
        try:
            self._database = await Database.open(self.path, create, check=check)
        except sqlite3.Error as exc:
            raise explain(exc, self.path, "open the database") from exc

    async def lower_writer_priority(self, niceness: int) -> bool:
        """For a process that also answers people: its writes take the CPU its reads leave (Linux)."""
        return await self.database.lower_writer_priority(niceness)

    @property
    def connected(self) -> bool:
        return self._database is not None

    @property
    def read_only(self) -> bool:
        return self.database.read_only

    async def close(self) -> None:
        """Close the connections once queued work is done; safe to call twice (shutdown paths may overlap)."""
        await self.close_cluster_events()
        if self._cache_writes:
            await asyncio.gather(*self._cache_writes, return_exceptions=True)
        if self._database is not None:
            database, self._database = self._database, None
            await database.close()

    async def schema_version(self) -> int:
        return await self._read(schema.schema_version)

    async def migrate(self) -> None:
        """Apply every migration newer than the file's `user_version` (connect already did)."""
        await self.database.run_on_writer(schema.migrate, self.path)

    async def backup(self, target: Path | str) -> tuple[int, int]:
        """Copy the whole store to the new file `target`; returns the copy's (subscriptions, deliveries).

        SQLite's online backup from a read connection: one snapshot, taken while the bot goes on
        writing. The copy is made under a temporary name, checked by opening it as a store (its
        quick_check included), and only then given its name, which must not exist yet: a backup
        never overwrites a file, least of all the store itself.
        """
        destination = Path(target)
        partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
        if await asyncio.to_thread(destination.exists):
            raise StoreError(f"cannot back up to {destination}: it already exists; give the name of a new file")

        async def copy(connection: aiosqlite.Connection) -> None:
            # the copy is written from the reader's thread, so it may not insist on its own
            copy_to = await aiosqlite.connect(partial, check_same_thread=False)
            try:
                await connection.backup(copy_to)
            finally:
                await copy_to.close()

        try:
            await self.database.read(copy)
            copied = await Store.open(partial, create=False)
            try:
                counts = len(await copied.subscriptions()), len(await copied.deliveries())
            finally:
                await copied.close()
            await asyncio.to_thread(os.link, partial, destination)  # fails, rather than replaces, if it appeared
        except (sqlite3.Error, StoreError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise StoreError(f"cannot back up {self.path} to {destination}: {reason}") from exc
        finally:
            await asyncio.to_thread(_remove_quietly, partial)
        return counts

    # -- metadata --------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        return await self._read(meta.get_meta, key)

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(meta.set_meta, key, value)

    async def finish_ingest(self, now: float | None = None) -> None:
        """Record when the store last caught up with the posts folder (shown by /about)."""
        await self.set_meta("last_ingest_at", repr(self._now(now)))

    async def _source(self, source_id: int | None) -> int:
        return await self.default_source_id() if source_id is None else source_id

    # -- ingest ----------------------------------------------------------------------

    async def file_states(self, source_id: int | None = None) -> Mapping[str, FileState]:
        """What the store knows of each post file of one blog (None: the first blog)."""
        return await self._read(posts.file_states, await self._source(source_id))

    async def write_batch(
        self,
        upserts: Sequence[PostRecord] = (),
        removals: Iterable[str] = (),
        touches: Iterable[tuple[str, FileState]] = (),
        now: float | None = None,
        renames: Iterable[tuple[str, str]] = (),
        source_id: int | None = None,
    ) -> tuple[int, int, int]:
        """Write one batch atomically: a crash leaves either all of it or none of it.

        Returns (added, updated, removed). `touches` record a new mtime for files whose
        content hash did not change, so the next run skips them on size + mtime alone.
        `renames` (old path, new path) move a stored post, its id and its announcements to
        the path of one of `upserts` before the upserts are written: a rename counts as updated.
        Every path is one of blog `source_id`'s (None: the first blog).
        """
        source = await self._source(source_id)
        batch = posts.Batch(source, list(upserts), list(removals), list(touches), list(renames), self._now(now))
        counts = await self._write(posts.write_batch, batch)
        self._generation += 1
        return counts

    async def canonical_paths(self, source_id: int) -> dict[str, str]:
        """canonical URL key → path of one blog's posts: the second key of web entries."""
        return await self._read(posts.canonical_paths, source_id)

    async def paths_with_stale_derivations(self, version: str, source_id: int | None = None) -> set[str]:
        """Posts whose cleaned text, outline or index tokens were made by another cleaner/tokeniser."""
        return await self._read(posts.paths_with_stale_derivations, version, await self._source(source_id))

    # -- summaries -------------------------------------------------------------------

    async def get_summary(
        self, post_id: int, length: str, source: str = "extractive", version: str | None = None
    ) -> tuple[str, ...] | None:
        """Stored summary sentences for the post's current content (and `version`, if given), or None."""
        return await self._read(summary_cache.get_summary, post_id, length, source, version)

    async def put_summaries(
        self,
        post_id: int,
        source: str,
        version: str,
        by_length: Mapping[str, Sequence[str]],
        made_from: tuple[str, str] | None = None,
    ) -> None:
        """Cache summaries made on demand against the post's current content, all lengths at once.

        `made_from` (StoredBody.made_from of the text summarised): cache nothing if the post was
        re-ingested meanwhile, so a summary of the old text never sits under the new content.
        A cache write never keeps a reply waiting: while the writer is busy (an ingest batch
        of hundreds of posts), it is queued behind it and this returns at once.
        """
        writing = self._write(
            summary_cache.put_summaries, post_id, source, version, by_length, made_from, self._now(None)
        )
        if not self.database.writer_busy:
            await writing  # the writer is free: done in a few milliseconds, and readable when this returns
            return
        task = asyncio.ensure_future(writing)
        self._cache_writes.add(task)
        task.add_done_callback(self._cache_write_done)

    def _cache_write_done(self, task: asyncio.Future[None]) -> None:
        self._cache_writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a summary could not be cached (it is made again on the next request): %s", task.exception())

    # -- reading posts ---------------------------------------------------------------

    async def all_posts(self) -> list[Post]:
        """Every stored post, scheduled ones included, newest first."""
        return await self._read(posts.all_posts)

    async def get_post(self, post_id: int) -> Post | None:
        return await self._read(posts.get_post, post_id)

    async def posts_by_ids(self, post_ids: Sequence[int]) -> list[Post]:
        """The posts with these ids in that order, without those removed since (a result page shown later)."""
        return await self._read(post_rows.posts_by_ids, list(post_ids))

    async def get_post_by_path(self, path: str, source_id: int | None = None) -> Post | None:
        """The post at `path` in blog `source_id` (None: in any blog)."""
        return await self._read(posts.get_post_by_path, path, source_id)

    async def get_text(self, post_id: int) -> str | None:
        return await self._read(posts.get_text, post_id)

    async def get_text_and_outline(self, post_id: int) -> StoredBody | None:
        """The cleaned text and its CleanedBody.outline, to summarise a post without re-reading its file."""
        return await self._read(posts.get_text_and_outline, post_id)

    async def related_candidates(self, post_id: int, limit: int = 200, now: float | None = None) -> list[Post]:
        """Visible posts sharing a tag or category with `post_id`, most shared first."""
        return await self._read(posts.related_candidates, post_id, limit, self._now(now))

    async def texts(self, post_ids: Sequence[int]) -> dict[int, str]:
        """Cleaned texts of several posts at once (for search snippets)."""
        return await self._read(posts.texts, list(post_ids))

    async def latest(
        self, limit: int, tag: str | None = None, now: float | None = None, source_id: int | None = None
    ) -> list[Post]:
        """The newest visible posts, optionally only those with `tag` and/or of one blog."""
        if tag:
            return await self.posts_by_tag(tag, limit, now=now, source_id=source_id)
        return await self._read(posts.latest, limit, self._now(now), source_id)

    async def posts_by_tag(
        self, tag: str, limit: int, offset: int = 0, now: float | None = None, source_id: int | None = None
    ) -> list[Post]:
        """Visible posts with `tag` (any spelling), newest first; of one blog when `source_id` is given."""
        return await self._read(posts.posts_by_tag, tag, limit, offset, self._now(now), source_id)

    async def count_posts_by_tag(self, tag: str, now: float | None = None, source_id: int | None = None) -> int:
        return await self._read(posts.count_posts_by_tag, tag, self._now(now), source_id)

    async def random_post(
        self, tag: str | None = None, now: float | None = None, source_id: int | None = None
    ) -> Post | None:
        return await self._read(posts.random_post, tag, self._now(now), source_id)

    async def _cached(self, key: str, max_age: float, load: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        generation = self._generation  # before loading: a batch committed meanwhile makes this value stale
        hit = self._cache.get(key)
        if hit is not None and hit[0] == generation and now - hit[1] < max_age:
            return hit[2]  # type: ignore[return-value]  # stored under this key by the same load
        value = await load()
        self._cache[key] = (generation, now, value)
        return value

    async def tags(self, now: float | None = None, source_id: int | None = None) -> list[TagCount]:
        """Tags of visible posts (of one blog, if given) with their post counts, most used first (cached a minute)."""
        if now is not None:
            return await self._read(posts.tags, now, source_id)
        return await self._cached(
            f"tags:{source_id}", CACHE_SECONDS, lambda: self._read(posts.tags, self._now(None), source_id)
        )

    async def tag_by_key(self, tag: str) -> str | None:
        """The display name of a tag given any spelling of it, or None if unknown."""
        return await self._read(posts.tag_by_key, tag)

    async def titles(self, now: float | None = None) -> list[tuple[int, str]]:
        """(id, title) of visible posts, newest first: the pool for fuzzy matching (cached for a minute)."""
        if now is not None:
            return await self._read(posts.titles, -1, now)
        return await self._cached("titles", CACHE_SECONDS, lambda: self._read(posts.titles, -1, self._now(None)))

    async def latest_titles(
        self, limit: int, now: float | None = None, source_id: int | None = None
    ) -> list[tuple[int, str]]:
        """(id, title) of the newest visible posts (of one blog, if given): autocomplete before anything is typed."""
        return await self._read(posts.titles, limit, self._now(now), source_id)

    async def counts(self, now: float | None = None) -> tuple[int, int]:
        """(visible posts, tags in use by them); the tag count reuses the cached tag list."""
        return await self._read(posts.count_visible, self._now(now)), len(await self.tags(now))

    # -- search ----------------------------------------------------------------------

    async def search_titles(
        self, needle: str, limit: int, now: float | None = None, source_id: int | None = None
    ) -> list[tuple[int, str]]:
        """Titles containing `needle` (NFKC/case-insensitive substring, of one blog if given), newest first."""
        return await self._read(search_index.search_titles, needle, limit, self._now(now), source_id)

    async def search(
        self, query: str, limit: int = 20, now: float | None = None, source_id: int | None = None
    ) -> list[SearchHit]:
        """Posts matching every term of `query` (of one blog, if given), title matches first (see search_index)."""
        return await self._read(search_index.search, query, limit, self._now(now), self.ranked_search_max, source_id)

    async def search_matches(
        self, query: str, limit: int = 20, now: float | None = None, source_id: int | None = None
    ) -> list[tuple[int, bool]]:
        """(post id, in its title) of what `search` finds, without reading the posts: for result pages."""
        return await self._read(search_index.matches, query, limit, self._now(now), self.ranked_search_max, source_id)

    # -- subscriptions and deliveries ----------------------------------------------

    async def subscribe(
        self,
        guild_id: int,
        channel_id: int,
        channel_kind: str,
        tags: Sequence[str] = (),
        categories: Sequence[str] = (),
        mention_role_id: int | None = None,
        created_by: int | None = None,
        now: float | None = None,
        source_id: int | None = None,
        *,
        layout: str = "embed",
        template: str | None = None,
        timezone: str | None = None,
        placement: Placement = DEFAULT_PLACEMENT,
        digest: tuple[str, int, int] = ("off", 9, 0),
    ) -> Subscription:
        """Create, or update the filters and the look of, the channel's subscription.

        New filters start afresh: posts that arrived earlier and match only the new filters
        are not news to this channel, so the start time moves to now. With the same filters
        (a re-run of /subscribe, a new mention role) it stays. With `source_id` only that blog's
        posts are announced; None announces every blog's. `digest`: (off|daily|weekly, hour, weekday).
        """
        return await self._write(
            subscriptions.subscribe,
            guild_id,
            channel_id,
            channel_kind,
            list(tags),
            list(categories),
            mention_role_id,
            created_by,
            self._now(now),
            source_id,
            layout,
            template,
            timezone,
            placement,
            digest,
        )

    async def set_webhook(self, subscription_id: int, webhook_id: int | None) -> None:
        await self._write(subscriptions.set_webhook, subscription_id, webhook_id)

    async def unsubscribe(self, guild_id: int, channel_id: int) -> bool:
        return await self._write(subscriptions.unsubscribe, guild_id, channel_id)

    async def subscriptions(self, guild_id: int | None = None) -> list[Subscription]:
        return await self._read(subscriptions.subscriptions, guild_id)

    async def subscription_for_channel(self, channel_id: int) -> Subscription | None:
        return await self._read(subscriptions.subscription_for_channel, channel_id)

    async def pause_subscription(self, subscription_id: int, reason: str, now: float | None = None) -> None:
        await self._write(subscriptions.pause_subscription, subscription_id, reason, self._now(now))

    async def resume_subscription(self, guild_id: int, channel_id: int) -> bool:
        return await self._write(subscriptions.resume_subscription, guild_id, channel_id)

    async def follow_configured_blogs(
        self, configured: Sequence[int], now: float | None = None
    ) -> tuple[list[int], list[int]]:
        """Pause subscriptions to blogs not in `configured` (source ids), resume theirs when back: (paused, resumed)."""
        return await self._write(subscriptions.follow_configured_blogs, configured, self._now(now))

    async def still_matches(self, subscription_id: int, post_id: int) -> bool:
        """Whether a queued post is still one the subscription asks for (filters and tags may have changed)."""
        return await self._read(subscriptions.still_matches, subscription_id, post_id)

    async def enqueue_new_posts(self, max_burst: int, now: float | None = None) -> dict[int, tuple[int, int]]:
        """Record a pending delivery for every post that became visible after each subscription began.

        A post becomes visible when it is first ingested or when its date arrives, whichever
        is later. If more than `max_burst` posts are new for one subscription at once, only the
        newest `max_burst` are queued and the rest recorded as skipped, so swapping the posts
        folder for another blog cannot flood a channel. A blog's first successful read is its back
        catalogue: a blog added to a running bot announces only what comes after. Returns
        {subscription id: (queued, skipped)}.
        """
        return await self._write(subscriptions.enqueue_new_posts, max_burst, self._now(now))

    async def backfill(self, subscription_id: int, count: int, now: float | None = None) -> int:
        """Queue the `count` latest matching visible posts for a new subscription."""
        if count <= 0:
            return 0
        return await self._write(subscriptions.backfill, subscription_id, count, self._now(now))

    async def pending_deliveries(self, limit: int = -1) -> list[Delivery]:
        """Pending deliveries of active subscriptions, per channel oldest post first."""
        return await self._read(subscriptions.pending_deliveries, limit)

    async def deliveries(self, post_id: int | None = None, channel_id: int | None = None) -> list[Delivery]:
        """The ledger, optionally for one post and/or one channel (for `kiji deliveries`)."""
        return await self._read(subscriptions.deliveries, post_id, channel_id)

    async def record_attempt(self, delivery_id: int, error: str | None) -> None:
        await self._write(subscriptions.record_attempt, delivery_id, error)

    async def mark_skipped(self, delivery_id: int, reason: str) -> None:
        await self._write(subscriptions.mark_skipped, delivery_id, reason)

    async def mark_sent(self, delivery: Delivery, message_id: int, now: float | None = None) -> None:
        await self._write(subscriptions.mark_sent, delivery, message_id, self._now(now))


def _remove_quietly(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
