"""Ingest of article entries (a web source's): extracted posts go through the same cleaning as Markdown.

Each entry has an identity in its blog (`key`) and a version. An entry whose key, or else whose
canonical URL, matches a stored post *is* that post: an edit updates it (its text, its search rows
and, through the content hash, its summary cache) and it is never announced again, because the
announcer announces a post once, by its stored identity. The sitemap's page and the same post's
feed entry meet on the canonical URL, whichever came first. Nothing is removed because it left
the feed: a feed holds only its newest entries.

The archive is a silent baseline: its posts are stored `silent` (and as first seen at time 0),
and the announcer never announces a silent post, whatever its date: a page dated after the blog's
first read is still the blog's past as the backfill found it, not news.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from bot.content.article_text import derive_text
from bot.content.images import image_url
from bot.models import FileState, PostRecord
from bot.services.ingest_report import DERIVED_VERSION, FailedPost, IngestReport, ProgressCallback
from bot.services.write_behind import WriteBehind
from bot.sources.abilities import ExtractsElsewhere, HandsOverEarly
from bot.sources.base import ArticleEntry, Articles
from bot.store import KijiStore

log = logging.getLogger(__name__)

# Entries cleaned per thread hop (or pool call) and written per transaction.
BATCH = 64
# Chunks cleaned at once in a process pool: its workers stay busy while a chunk is written.
CHUNKS_AT_ONCE = 4
# Hand-overs of a source (each up to a batch of entries) ingested together while it polls on.
HANDED_OVER_PER_WRITE = 4


def prepare_article(entry: ArticleEntry, path: str, *, silent: bool) -> PostRecord:
    """One article entry as a storable post: cleaned, tokenised, keyed by `path` (its identity)."""
    article = entry.article
    derived = entry.derived
    if derived is None or not derived.derives(article.title, article.body):
        derived = derive_text(article.title, article.body)
    parts = urlsplit(article.url)
    url_path = parts.path or "/"
    slug = unquote(url_path.rstrip("/").rsplit("/", 1)[-1]).rsplit(".", 1)[0] or "index"
    when = datetime.fromtimestamp(article.published, UTC)
    return PostRecord(
        path=path,
        jekyll_id=url_path.rstrip("/") or "/",
        url=url_path,
        abs_url=article.url,
        slug=slug,
        title=article.title,
        date_utc=article.published,
        date_iso=when.isoformat(),
        tags=article.tags,
        categories=article.categories,
        author=article.author,
        excerpt=None,
        description=article.description,
        reading_time=derived.reading_time,
        text=derived.text,
        title_tokens=derived.title_tokens,
        body_tokens=derived.body_tokens,
        file=FileState(len(article.body.encode("utf-8")), 0, entry.version),
        outline=derived.outline,
        derived_version=DERIVED_VERSION,
        canonical_key=entry.canonical or None,
        first_seen_at=0.0 if silent else None,
        silent=silent,
        image=image_url(article.image, article.url),
    )


def _without_shared_links(entries: tuple[ArticleEntry, ...]) -> list[ArticleEntry]:
    """The entries, with no second key where several feed entries share one link.

    Some feeds point every entry at the home page: their entries are told apart by title and
    date (see `feeds.entry_keys`), and that shared address names none of them.
    """
    counts = Counter(entry.canonical for entry in entries if not entry.archive)
    return [replace(entry, canonical="") if counts[entry.canonical] > 1 else entry for entry in entries]


def _unique(entries: list[ArticleEntry]) -> list[ArticleEntry]:
    """One entry per post: the feed's entry wins over the archive's page of the same post."""
    chosen: dict[str, ArticleEntry] = {}
    by_canonical: dict[str, str] = {}
    for entry in sorted(entries, key=lambda e: e.archive):  # feed entries first
        if entry.key in chosen:
            continue
        if entry.canonical and entry.canonical in by_canonical:
            continue
        chosen[entry.key] = entry
        if entry.canonical:
            by_canonical[entry.canonical] = entry.key
    return list(chosen.values())


def _plan(
    entries: list[ArticleEntry], known: Mapping[str, FileState], canonical: Mapping[str, str], stale: set[str]
) -> tuple[list[tuple[ArticleEntry, str, bool]], list[str]]:
    """(entry, stored path, silent) of each entry to write, and the stored paths of those unchanged."""
    work: list[tuple[ArticleEntry, str, bool]] = []
    unchanged: list[str] = []
    for entry in entries:
        path = entry.key if entry.key in known or not entry.canonical else canonical.get(entry.canonical, entry.key)
        state = known.get(path)
        if state is not None and state.content_hash == entry.version and path not in stale:
            unchanged.append(path)
            continue
        work.append((entry, path, entry.archive and state is None))
    return work, unchanged


def _prepare_all(work: list[tuple[ArticleEntry, str, bool]]) -> list[PostRecord | FailedPost]:
    outcomes: list[PostRecord | FailedPost] = []
    for entry, path, silent in work:
        try:
            outcomes.append(prepare_article(entry, path, silent=silent))
        except Exception as exc:  # one broken entry never stops the others; say which one
            log.exception("unexpected error while reading %s", entry.article.url)
            outcomes.append(FailedPost(entry.article.url, f"internal error: {type(exc).__name__}: {exc}"))
    return outcomes


def _prepared(
    work: list[tuple[ArticleEntry, str, bool]], step: int, executor: Executor | None
) -> Iterator[tuple[int, asyncio.Future[list[PostRecord | FailedPost]]]]:
    """(start, its chunk's outcomes) for each chunk of `work`, in order.

    With an executor (a process pool), a few chunks are cleaned at once, in parallel, while the
    earlier ones are written; without one, each chunk in a thread when its turn comes. A chunk
    whose entries were all cleaned already (in the worker that extracted their pages) is made
    into records here: sending it to a worker would only carry its text across once more.
    """
    loop = asyncio.get_running_loop()
    starts = range(0, len(work), step)
    if executor is None:
        for start in starts:
            yield start, asyncio.ensure_future(asyncio.to_thread(_prepare_all, work[start : start + step]))
        return
    in_flight: deque[tuple[int, asyncio.Future[list[PostRecord | FailedPost]]]] = deque()
    waiting = iter(starts)
    try:
        while True:
            while len(in_flight) < CHUNKS_AT_ONCE and (start := next(waiting, None)) is not None:
                chunk = work[start : start + step]
                if all(entry.derived is not None for entry, _, _ in chunk):
                    done: asyncio.Future[list[PostRecord | FailedPost]] = loop.create_future()
                    done.set_result(_prepare_all(chunk))
                    in_flight.append((start, done))
                else:
                    in_flight.append((start, loop.run_in_executor(executor, _prepare_all, chunk)))
            if not in_flight:
                return
            yield in_flight.popleft()
    finally:
        for _, future in in_flight:
            future.cancel()


async def ingest_articles(
    store: KijiStore,
    articles: Articles,
    *,
    source_id: int,
    progress: ProgressCallback | None = None,
    batch_size: int = BATCH,
    written_this_read: set[str] | None = None,
    executor: Executor | None = None,
) -> IngestReport:
    """Make the store's posts of blog `source_id` hold every entry of `articles` (none is removed).

    `written_this_read`: the paths an earlier part of the same read wrote (a web blog's feed, handed
    over before its backfill); they were counted then, and are not counted again as updated or
    unchanged. The paths written here are added to it. `executor`: a process pool to clean in.
    """
    started = time.perf_counter()
    counted = written_this_read if written_this_read is not None else set()
    known = await store.file_states(source_id)
    canonical = await store.canonical_paths(source_id)
    stale = await store.paths_with_stale_derivations(DERIVED_VERSION, source_id)
    work, unchanged = _plan(_unique(_without_shared_links(articles.entries)), known, canonical, stale)
    report = IngestReport(
        unchanged=sum(1 for path in unchanged if path not in counted),
        failed=[FailedPost(problem.where, problem.reason) for problem in articles.problems],
        blog_title=articles.title,
        blog_url=articles.home,
    )
    step = max(1, min(batch_size, BATCH))
    for start, outcomes in _prepared(work, step, executor):
        records = [outcome for outcome in await outcomes if isinstance(outcome, PostRecord)]
        report.failed.extend(outcome for outcome in outcomes.result() if isinstance(outcome, FailedPost))
        if records:
            added, updated, _ = await store.write_batch(records, source_id=source_id)
            report.added += added
            report.updated += updated - sum(1 for record in records if record.path in counted)
            counted.update(record.path for record in records)
        if progress is not None:
            progress(min(start + step, len(work)), len(work))
    await store.finish_ingest()
    report.seconds = time.perf_counter() - started
    return report


async def poll_and_ingest_articles(
    store: KijiStore,
    source: HandsOverEarly,
    since: str | None,
    *,
    source_id: int,
    progress: ProgressCallback | None = None,
    batch_size: int = BATCH,
    executor: Executor | None = None,
) -> tuple[IngestReport, str | None]:
    """Poll a web blog and ingest its articles, its newest posts stored as soon as they are read.

    The feed's entries are stored before a backfill of the blog's past begins (it may take many
    minutes at a polite rate): readers can search them meanwhile. The archive's posts are stored as
    the backfill hands them over, written behind (`WriteBehind`): one task writes while the source
    goes on fetching and extracting. Returns the report of the whole
    read and the version to record once it is all committed (None: keep the one recorded).
    `executor`: a process pool (the CLI's, or the bot's ingest process's) that extracts the pages
    and cleans the articles, in parallel and out of this process.
    """
    written: set[str] = set()
    early = IngestReport()

    async def write(parts: list[Articles]) -> None:
        entries = tuple(entry for part in parts for entry in part.entries)
        part = await ingest_articles(
            store,
            Articles(None, entries, title=parts[-1].title, home=parts[-1].home),
            source_id=source_id,
            batch_size=batch_size,
            written_this_read=written,
            executor=executor,
        )
        early.added += part.added
        early.updated += part.updated

    behind: WriteBehind[Articles] = WriteBehind(write, HANDED_OVER_PER_WRITE)

    async def receive(articles: Articles) -> None:
        await behind.add([articles])
        if not all(entry.archive for entry in articles.entries):
            await behind.drain()  # the feed's newest posts: searchable before the backfill goes on

    extracts = isinstance(source, ExtractsElsewhere)
    source.hand_over_early(receive)
    if extracts:
        source.extract_with(executor)  # type: ignore[attr-defined]  # narrowed above
    try:
        changes = await source.poll(since)  # type: ignore[attr-defined]  # a Source as well
        await behind.drain()
    except BaseException:
        await behind.cancel()
        raise
    finally:
        source.hand_over_early(None)
        if extracts:
            source.extract_with(None)  # type: ignore[attr-defined]
    if not isinstance(changes, Articles):
        raise TypeError(f"{source!r}: a source that hands articles over early must answer with articles")
    report = await ingest_articles(
        store,
        changes,
        source_id=source_id,
        progress=progress,
        batch_size=batch_size,
        written_this_read=written,
        executor=executor,
    )
    report.added += early.added
    report.updated += early.updated
    return report, changes.version
