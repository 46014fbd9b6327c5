"""Incremental ingest: bring the store in line with the posts on disk.

Files whose size and mtime match the store are skipped without being read; the rest
are hashed, and only files whose content changed are parsed. Parsing and cleaning are
CPU-bound and independent per file, so large ingests fan them out over a process pool
while this process, the store's only writer, commits the results batch by batch. Each
batch is one transaction: a crash loses at most the batch in flight, and the next run
picks up whatever is still missing or stale.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.content import search_tokens
from bot.models import FileState, PostRecord
from bot.services.ingest_report import DERIVED_VERSION, FailedPost, IngestReport, ProgressCallback, content_hash
from bot.services.parse_pool import worker_pool
from bot.services.write_behind import WriteBehind
from bot.sources.abilities import HandsOverEarly
from bot.sources.base import Articles, Changes, SiteSource, Source
from bot.sources.canonical import canonical_url
from bot.sources.post_error import PostError
from bot.sources.post_files import check_regular, is_post_path, printable_path, read_post_file, scan_post_files
from bot.sources.site_config import Site, jekyll_path, load_site, site_path, touches_config
from bot.store import KijiStore

if TYPE_CHECKING:  # the parser and the cleaner are imported where a post is parsed: a no-op ingest needs neither
    from bot.content.cleaning import CleanedBody
    from bot.sources.post_reader import ParsedPost

log = logging.getLogger(__name__)

# Files per worker task: large enough to amortise inter-process overhead, small enough
# that the writer gets work early and a crash loses little.
CHUNK_SIZE = 64
# Most posts per transaction: FTS5 merges its index at each commit, so few large commits are
# cheaper than many small ones; a crash still loses at most one batch. A batch holds what was
# parsed while the one before it was written (see write_behind), so it is often smaller.
WRITE_BATCH = 512
# Below this many files to parse, a process pool costs more than it saves.
POOL_THRESHOLD = 2 * CHUNK_SIZE


@dataclass(frozen=True, slots=True)
class _Job:
    abs_path: str
    rel_path: str
    size: int
    mtime_ns: int
    known_hash: str | None
    picture: bool = False  # stored before pictures were looked for: if unchanged, read it for its picture


@dataclass(frozen=True, slots=True)
class _Unchanged:
    """Content identical to the store's copy; only the file's mtime moved (and its picture, when asked for)."""

    path: str
    state: FileState
    image: str | None = None  # '' for none; None: not looked for


@dataclass(frozen=True, slots=True)
class _Unpublished:
    path: str


_Outcome = PostRecord | _Unchanged | _Unpublished | FailedPost


def parse_and_clean(data: bytes, rel_path: str, site: Site) -> tuple[ParsedPost, CleanedBody | None]:
    """Jekyll's reading of one file and its cleaned body (None when unpublished: nothing to clean).

    Raises PostError (with the path and what is wrong) for a broken post.
    """
    from bot.content.cleaning import clean_body  # preloaded in the parse workers (`parse_pool`)
    from bot.sources.post_reader import parse_post

    parsed = parse_post(data, rel_path, site)
    return parsed, clean_body(parsed.body, parsed.title) if parsed.published else None


def prepare_post(data: bytes, rel_path: str, site: Site, state: FileState) -> PostRecord | None:
    """Parse, clean and tokenise one file into a storable record; None when it is unpublished.

    Raises PostError (with the path and what is wrong) for a broken post.
    """
    parsed, cleaned = parse_and_clean(data, rel_path, site)
    if cleaned is None:
        return None
    from bot.content.cleaning import reading_time_minutes

    text = cleaned.text
    reading_time = parsed.reading_time or reading_time_minutes(text)
    return PostRecord(
        path=parsed.path,
        jekyll_id=parsed.id,
        url=parsed.url,
        abs_url=parsed.abs_url,
        slug=parsed.slug,
        title=parsed.title,
        date_utc=parsed.date.timestamp(),
        date_iso=parsed.date.isoformat(),
        tags=parsed.tags,
        categories=parsed.categories,
        author=parsed.author,
        excerpt=parsed.excerpt,
        description=parsed.description,
        reading_time=reading_time,
        text=text,
        title_tokens=search_tokens.index_tokens(parsed.title),
        body_tokens=search_tokens.index_tokens(cleaned.search_text),
        file=state,
        outline=cleaned.outline,
        derived_version=DERIVED_VERSION,
        canonical_key=canonical_url(parsed.abs_url) if parsed.abs_url.startswith(("http://", "https://")) else None,
        image=parsed.image,
    )


def _process(job: _Job, site: Site) -> _Outcome:
    try:
        data = read_post_file(site, job.abs_path, job.rel_path)
    except PostError as exc:
        return FailedPost(exc.path, exc.reason)
    state = FileState(len(data), job.mtime_ns, content_hash(data))
    if state.content_hash == job.known_hash:
        return _Unchanged(job.rel_path, state, _picture(data, job.rel_path, site) if job.picture else None)
    try:
        record = prepare_post(data, job.rel_path, site, state)
    except PostError as exc:
        return FailedPost(exc.path, exc.reason)
    except Exception as exc:  # a bug must not stop the other posts; say which file hit it
        shown = printable_path(job.rel_path)
        log.exception("unexpected error while reading %s", shown)
        return FailedPost(shown, f"internal error: {type(exc).__name__}: {exc}")
    return _Unpublished(job.rel_path) if record is None else record


def _picture(data: bytes, rel_path: str, site: Site) -> str:
    """The picture of an unchanged post stored before pictures ('' for none): Jekyll's reading alone, no cleaning."""
    from bot.sources.post_reader import parse_post

    try:
        return parse_post(data, rel_path, site).image or ""
    except PostError:
        return ""  # read well before; if it no longer is, its next edit says why


def _process_chunk(jobs: Sequence[_Job], site: Site) -> list[_Outcome]:
    return [_process(job, site) for job in jobs]


def _chunks(jobs: Sequence[_Job], size: int) -> Iterator[Sequence[_Job]]:
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def _plan(
    site: Site, known: Mapping[str, FileState], stale: set[str], unpictured: set[str] = frozenset()
) -> tuple[list[_Job], int, list[str], list[FailedPost]]:
    """Stat every post file: (jobs to read, unchanged count, stored paths now gone, unreadable).

    Files in `stale` (derived by another cleaner/tokeniser version) are re-read even if unchanged;
    files in `unpictured` (stored before pictures) are read for their picture even if unchanged.
    """
    jobs: list[_Job] = []
    unchanged = 0
    scan = scan_post_files(site)
    failed = [FailedPost(problem.path, problem.reason) for problem in scan.problems]
    present: set[str] = set()
    for abs_path, rel_path in scan.files:
        present.add(rel_path)
        try:
            stat = os.stat(abs_path)
            check_regular(stat, rel_path)
        except OSError as exc:
            failed.append(FailedPost(rel_path, f"cannot read the file: {exc.strerror or exc}"))
            continue
        except PostError as exc:
            failed.append(FailedPost(exc.path, exc.reason))
            continue
        state = known.get(rel_path)
        if rel_path in stale:
            state = None  # force a full re-read: the stored derivations are out of date
        elif (
            state is not None
            and state.size == stat.st_size
            and state.mtime_ns == stat.st_mtime_ns
            and rel_path not in unpictured
        ):
            unchanged += 1
            continue
        known_hash = state.content_hash if state else None
        jobs.append(_Job(abs_path, rel_path, stat.st_size, stat.st_mtime_ns, known_hash, rel_path in unpictured))
    gone: list[str] = []
    for path in sorted(path for path in known if path not in present):
        kept_because = _hidden_by_an_unreadable_folder(site, path)
        if kept_because is None:
            gone.append(path)
        else:
            failed.append(FailedPost(path, f"{kept_because}; kept the stored copy"))
    if gone and not present:
        # Every post gone at once is far more often a folder swapped out or not mounted (a
        # checkout mid-switch, a detached volume) than a blog deleted on purpose; emptying
        # the store would make every post new, and announced again, when it comes back.
        failed.append(
            FailedPost(
                str(site.root),
                f"no posts found, so the {len(known)} stored posts were kept; to start over "
                "with an empty blog, delete the database file (KIJI_DB_PATH)",
            )
        )
        gone = []
    return jobs, unchanged, gone, failed


def _plan_changes(
    site: Site, known: Mapping[str, FileState], stale: set[str], changes: Changes, unpictured: set[str] = frozenset()
) -> tuple[list[_Job], list[str], list[FailedPost], dict[str, str]]:
    """Stat only what the source says changed: (jobs, stored paths to remove, unreadable, new path → old path).

    A rename keeps the post's identity even when its bytes changed too: the stored row moves to
    the new path before the new content is written over it. Posts made stale by another
    cleaner/tokeniser version are re-read as well, changed or not.
    """
    jobs: list[_Job] = []
    failed: list[FailedPost] = []
    removals: set[str] = {jekyll_path(site, path) for path in changes.removed}
    renamed_from: dict[str, str] = {}
    wanted: dict[str, None] = {}
    for old, new in changes.renamed:
        old_rel, new_rel = jekyll_path(site, old), jekyll_path(site, new)
        if old_rel in known and new_rel not in known and is_post_path(site, new_rel):
            renamed_from[new_rel] = old_rel
        else:
            removals.add(old_rel)
        wanted[new_rel] = None
    for path in changes.changed:
        wanted[jekyll_path(site, path)] = None
    wanted.update(dict.fromkeys(sorted(stale | unpictured)))
    for rel_path in wanted:
        if not is_post_path(site, rel_path):
            removals.add(rel_path)  # moved out of `_posts`, excluded now: no longer a post
            continue
        shown = printable_path(rel_path)
        if shown != rel_path:
            failed.append(FailedPost(shown, "file name is not valid UTF-8; rename it (the name becomes its URL)"))
            continue
        abs_path = site_path(site, rel_path)
        try:
            stat = os.stat(abs_path)
            check_regular(stat, rel_path)
        except FileNotFoundError:
            removals.add(rel_path)
            continue
        except OSError as exc:
            failed.append(FailedPost(shown, f"cannot read the file: {exc.strerror or exc}"))
            continue
        except PostError as exc:
            failed.append(FailedPost(exc.path, exc.reason))
            continue
        removals.discard(rel_path)
        state = known.get(rel_path) if rel_path not in stale else None
        known_hash = state.content_hash if state else None
        jobs.append(_Job(abs_path, rel_path, stat.st_size, stat.st_mtime_ns, known_hash, rel_path in unpictured))
    return jobs, sorted(path for path in removals if path in known), failed, renamed_from


def _hidden_by_an_unreadable_folder(site: Site, rel_path: str) -> str | None:
    """Why a stored post the walk did not find may still exist, or None when it is really gone.

    The walk cannot tell a folder it may not list from an empty one, so without this check
    a permissions slip would delete every post below it, and when the folder came back they
    would be new posts, announced again.
    """
    path = site_path(site, rel_path)
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    # The file is there, yet the walk did not list it: it is excluded now (really gone to
    # Jekyll), unless a folder on its way could not be listed.
    folder = path.parent
    while True:
        try:
            with os.scandir(folder):
                pass
        except OSError as exc:
            return f"cannot list the folder {folder}: {exc.strerror or exc}"
        if folder == site.root or folder.parent == folder:
            return None
        folder = folder.parent


def source_version_key(source_name: str) -> str:
    """The store's meta key holding the version of `source_name` that ingest last committed."""
    return f"source_version:{source_name}"


# Where a source's changes are ingested instead of in this process: (site, changes, source id) → report.
# The running bot passes its ingest process (see ingest_process), so no parse result reaches its own.
IngestRun = Callable[[Site, Changes, int], Awaitable[IngestReport]]


async def ingest_source(
    store: KijiStore,
    source: Source,
    *,
    load: Callable[[Path], Site] = load_site,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    batch_size: int = WRITE_BATCH,
    source_id: int | None = None,
    run: IngestRun | None = None,
    executor: Executor | None = None,
) -> IngestReport:
    """Poll `source` for what changed since the version last ingested, and ingest that as its posts.

    The version is recorded only after every batch is committed: a crash in between makes the
    next poll report the same changes again. `load` reads the site's configuration after the
    poll (a new `_config.yml` may have come with it). `source_id`: the store's id of the source,
    when the caller has registered it already. `executor`: the process pool a web blog's pages are
    extracted and cleaned in (the CLI's, or the running bot's ingest process's).
    """
    if source_id is None:
        source_id = await store.register_source(source.name, source.display)
    key = source_version_key(source.name)
    if isinstance(source, HandsOverEarly):
        from bot.services.article_ingest import poll_and_ingest_articles  # loads the cleaner: only for a web source

        report, version = await poll_and_ingest_articles(
            store,
            source,
            await store.get_meta(key),
            source_id=source_id,
            progress=progress,
            batch_size=batch_size,
            executor=executor,
        )
        if version is not None:
            await store.set_meta(key, version)
        return report
    changes = await source.poll(await store.get_meta(key))
    if isinstance(changes, Articles):  # entries already extracted: no site to read
        from bot.services.article_ingest import ingest_articles  # loads the cleaner: only for a web source's articles

        report = await ingest_articles(store, changes, source_id=source_id, progress=progress, batch_size=batch_size)
        if changes.version is not None:
            await store.set_meta(key, changes.version)
        return report
    if not isinstance(source, SiteSource):
        raise TypeError(f"{source.name}: a source answering with files must have a site_root")
    site = await asyncio.to_thread(load, source.site_root)
    if run is not None:
        report = await run(site, changes, source_id)
    else:
        report = await ingest(
            store, site, changes=changes, progress=progress, workers=workers, batch_size=batch_size, source_id=source_id
        )
    if changes.version is not None:
        await store.set_meta(key, changes.version)
    return report


async def ingest(
    store: KijiStore,
    site: Site,
    *,
    changes: Changes | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    batch_size: int = WRITE_BATCH,
    source_id: int | None = None,
    executor: Executor | None = None,
) -> IngestReport:
    """Make the store's posts of blog `source_id` (None: the first) match the posts of `site`.

    One broken post never stops the rest. With `changes` that are complete, only the files they
    name are read; otherwise (a folder, a first clone, a new `_config.yml`) the whole site is
    walked and compared with the store.

    With an `executor` (the pool of the bot's ingest process) every file is parsed there, however
    few: a hostile post can make cleaning slow, and it must hold up nothing but its own worker.
    Without one, small ingests run in a thread and large ones in a pool made for the call.
    """
    started = time.perf_counter()
    if source_id is None:
        source_id = await store.default_source_id()
    known = await store.file_states(source_id)
    stale = await store.paths_with_stale_derivations(DERIVED_VERSION, source_id)
    unpictured = await store.paths_without_image(source_id)
    if changes is not None and changes.complete and not _touches_config(changes):
        plan = _plan_changes
        jobs, gone, failed, renamed_from = await asyncio.to_thread(plan, site, known, stale, changes, unpictured)
        unchanged = 0
    else:
        if changes is not None and _touches_config(changes):
            stale = set(known)  # every stored post may read differently now: re-read them all
        jobs, unchanged, gone, failed = await asyncio.to_thread(_plan, site, known, stale, unpictured)
        renamed_from = {}
    report = IngestReport(unchanged=unchanged, failed=failed)
    total = len(jobs)
    done = 0
    # A post that vanished and a new file with the same bytes is one post renamed or moved
    # (a date fixed in the file name, say): it keeps its id, and channels that announced it
    # are not sent it again.
    same_bytes_as = {known[path].content_hash: path for path in gone}
    renamed: set[str] = set(renamed_from.values())

    async def flush(buffer: list[_Outcome]) -> None:
        """Write one batch of outcomes as one transaction."""
        nonlocal done
        upserts: list[PostRecord] = []
        touches: list[tuple[str, FileState]] = []
        removals: list[str] = []
        renames: list[tuple[str, str]] = []
        pictures: list[tuple[str, str]] = []
        for outcome in buffer:
            if isinstance(outcome, PostRecord):
                upserts.append(outcome)
                if old := renamed_from.get(outcome.path):
                    renames.append((old, outcome.path))
                elif outcome.path not in known and (old := same_bytes_as.pop(outcome.file.content_hash, None)):
                    renames.append((old, outcome.path))
                    renamed.add(old)
            elif isinstance(outcome, _Unchanged):
                touches.append((outcome.path, outcome.state))
                report.unchanged += 1
                if outcome.image is not None:
                    pictures.append((outcome.path, outcome.image))
            elif isinstance(outcome, _Unpublished):
                if outcome.path in known:
                    removals.append(outcome.path)
                elif old := renamed_from.get(outcome.path):
                    removals.append(old)  # renamed and unpublished at once
            else:  # reported by the caller, from report.failed: the CLI prints it, the bot logs it
                report.failed.append(outcome)
                if old := renamed_from.get(outcome.path):
                    renames.append((old, outcome.path))  # keep its identity, and its last good copy
        await _write(store, source_id, report, upserts, removals, touches, renames)
        if pictures:
            await store.fill_images(pictures, source_id)
        done += len(buffer)
        if progress is not None:
            progress(done, total)

    writer = WriteBehind(flush, batch_size)
    try:
        if executor is not None:
            await _fan_out(executor, jobs, site, writer.add, CHUNK_SIZE)
        elif total < POOL_THRESHOLD or workers == 1:
            for chunk in _chunks(jobs, CHUNK_SIZE):
                await writer.add(await asyncio.to_thread(_process_chunk, chunk, site))
        else:
            with worker_pool(workers or os.cpu_count() or 1) as pool:
                await _fan_out(pool, jobs, site, writer.add, CHUNK_SIZE)
        await writer.drain()
    except BaseException:
        await writer.cancel()
        raise

    gone = [path for path in gone if path not in renamed]
    if gone:
        _, _, removed = await store.write_batch(removals=gone, source_id=source_id)
        report.removed += removed
    await store.finish_ingest()
    report.seconds = time.perf_counter() - started
    log.debug("ingest of %s: %s", site.root, report.summary_line())  # callers say it their way
    return report


async def _fan_out(
    executor: Executor,
    jobs: Sequence[_Job],
    site: Site,
    absorb: Callable[[list[_Outcome]], Awaitable[None]],
    chunk_size: int,
) -> None:
    """Parse the jobs chunk by chunk in `executor`, absorbing each chunk as it is done."""
    loop = asyncio.get_running_loop()
    pending = [loop.run_in_executor(executor, _process_chunk, chunk, site) for chunk in _chunks(jobs, chunk_size)]
    try:
        for next_done in asyncio.as_completed(pending):
            await absorb(await next_done)
    finally:
        for future in pending:
            future.cancel()  # cancelled or failed half-way: chunks not started yet are dropped


def _touches_config(changes: Changes) -> bool:
    """Whether the site's configuration changed: then every post may read differently, and the site is walked."""
    return touches_config([*changes.changed, *changes.removed, *(path for pair in changes.renamed for path in pair)])


async def _write(
    store: KijiStore,
    source_id: int,
    report: IngestReport,
    upserts: list[PostRecord],
    removals: list[str],
    touches: list[tuple[str, FileState]],
    renames: list[tuple[str, str]],
) -> None:
    """One batch as one transaction; if a value in it cannot be stored, each post on its own.

    A value no parser check foresaw (an integer past SQLite's 64 bits, say) fails the whole
    transaction; rather than lose every good post with it, the batch is rolled back and written
    again post by post, and only the posts that still fail are reported.
    """
    try:
        counts = await store.write_batch(upserts, removals, touches, renames=renames, source_id=source_id)
    except (OverflowError, ValueError, TypeError, UnicodeError) as exc:
        if not upserts:
            raise
        if len(upserts) == 1:
            report.failed.append(FailedPost(printable_path(upserts[0].path), f"cannot be stored: {exc}"))
            await _write(store, source_id, report, [], removals, touches, renames)  # a rename alone keeps identity
            return
        log.warning("a batch of %d posts could not be stored (%s); writing them one by one", len(upserts), exc)
        own_rename = {new: (old, new) for old, new in renames}
        paths = {record.path for record in upserts}
        kept = [pair for pair in renames if pair[1] not in paths]
        await _write(store, source_id, report, [], removals, touches, kept)
        for record in upserts:
            pair = own_rename.get(record.path)
            await _write(store, source_id, report, [record], [], [], [pair] if pair else [])
        return
    added, updated, removed = counts
    report.added += added
    report.updated += updated
    report.removed += removed
