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
import hashlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bot.content import search_tokens
from bot.content.cleaning import CleanedBody, clean_body, reading_time_minutes
from bot.models import FileState, PostRecord
from bot.sources.jekyll import ParsedPost, PostError, Site, find_post_files, parse_post, site_path
from bot.store import Store

log = logging.getLogger(__name__)

# Files per worker task: large enough to amortise inter-process overhead, small enough
# that the writer gets work early and a crash loses little.
CHUNK_SIZE = 64
# Posts per transaction: FTS5 merges its index at each commit, so few large commits are
# much cheaper than many small ones; a crash still loses at most one batch.
WRITE_BATCH = 512
# Below this many files to parse, a process pool costs more than it saves.
POOL_THRESHOLD = 2 * CHUNK_SIZE
# Bump when cleaning or search tokenising changes what they make from the same file: the
# next ingest re-derives every post stored by another version, changed on disk or not.
DERIVED_VERSION = "3"  # 3: footer blocks dropped as blocks, article after them kept; 2: list items, $ prices…


@dataclass(frozen=True, slots=True)
class FailedPost:
    path: str
    error: str


@dataclass(frozen=True, slots=True)
class _Job:
    abs_path: str
    rel_path: str
    size: int
    mtime_ns: int
    known_hash: str | None


@dataclass(frozen=True, slots=True)
class _Unchanged:
    """Content identical to the store's copy; only the file's mtime moved."""

    path: str
    state: FileState


@dataclass(frozen=True, slots=True)
class _Unpublished:
    path: str


_Outcome = PostRecord | _Unchanged | _Unpublished | FailedPost


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[FailedPost] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": [{"path": f.path, "error": f.error} for f in self.failed],
            "seconds": round(self.seconds, 3),
        }

    def summary_line(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.failed)} failed in {self.seconds:.2f}s"
        )


ProgressCallback = Callable[[int, int], None]


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def parse_and_clean(data: bytes, rel_path: str, site: Site) -> tuple[ParsedPost, CleanedBody | None]:
    """Jekyll's reading of one file and its cleaned body (None when unpublished: nothing to clean).

    Raises PostError (with the path and what is wrong) for a broken post.
    """
    parsed = parse_post(data, rel_path, site)
    return parsed, clean_body(parsed.body, parsed.title) if parsed.published else None


def prepare_post(data: bytes, rel_path: str, site: Site, state: FileState) -> PostRecord | None:
    """Parse, clean and tokenise one file into a storable record; None when it is unpublished.

    Raises PostError (with the path and what is wrong) for a broken post.
    """
    parsed, cleaned = parse_and_clean(data, rel_path, site)
    if cleaned is None:
        return None
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
    )


def _process(job: _Job, site: Site) -> _Outcome:
    try:
        with open(job.abs_path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return FailedPost(job.rel_path, f"cannot read the file: {exc.strerror or exc}")
    state = FileState(len(data), job.mtime_ns, content_hash(data))
    if state.content_hash == job.known_hash:
        return _Unchanged(job.rel_path, state)
    try:
        record = prepare_post(data, job.rel_path, site, state)
    except PostError as exc:
        return FailedPost(job.rel_path, exc.reason)
    except Exception as exc:  # a bug must not stop the other posts; say which file hit it
        log.exception("unexpected error while reading %s", job.rel_path)
        return FailedPost(job.rel_path, f"internal error: {type(exc).__name__}: {exc}")
    return _Unpublished(job.rel_path) if record is None else record


def _process_chunk(jobs: Sequence[_Job], site: Site) -> list[_Outcome]:
    return [_process(job, site) for job in jobs]


def _chunks(jobs: Sequence[_Job], size: int) -> Iterator[Sequence[_Job]]:
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def _plan(
    site: Site, known: dict[str, FileState], stale: set[str]
) -> tuple[list[_Job], int, list[str], list[FailedPost]]:
    """Stat every post file: (jobs to read, unchanged count, stored paths now gone, unreadable).

    Files in `stale` (derived by another cleaner/tokeniser version) are re-read even if unchanged.
    """
    jobs: list[_Job] = []
    unchanged = 0
    failed: list[FailedPost] = []
    present: set[str] = set()
    for abs_path, rel_path in find_post_files(site):
        present.add(rel_path)
        try:
            stat = os.stat(abs_path)
        except OSError as exc:
            failed.append(FailedPost(rel_path, f"cannot read the file: {exc.strerror or exc}"))
            continue
        state = known.get(rel_path)
        if rel_path in stale:
            state = None  # force a full re-read: the stored derivations are out of date
        elif state is not None and state.size == stat.st_size and state.mtime_ns == stat.st_mtime_ns:
            unchanged += 1
            continue
        jobs.append(
            _Job(str(abs_path), rel_path, stat.st_size, stat.st_mtime_ns, state.content_hash if state else None)
        )
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


async def ingest(
    store: Store,
    site: Site,
    *,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    batch_size: int = WRITE_BATCH,
) -> IngestReport:
    """Make the store match the posts of `site`; one broken post never stops the rest."""
    started = time.perf_counter()
    known = await store.file_states()
    stale = await store.paths_with_stale_derivations(DERIVED_VERSION)
    jobs, unchanged, gone, failed = await asyncio.to_thread(_plan, site, known, stale)
    report = IngestReport(unchanged=unchanged, failed=failed)
    total = len(jobs)
    done = 0
    # A post that vanished and a new file with the same bytes is one post renamed or moved
    # (a date fixed in the file name, say): it keeps its id, and channels that announced it
    # are not sent it again.
    renamed_from = {known[path].content_hash: path for path in gone}
    renamed: set[str] = set()

    buffer: list[_Outcome] = []

    async def flush() -> None:
        """Write what has been prepared so far as one transaction."""
        nonlocal done
        upserts: list[PostRecord] = []
        touches: list[tuple[str, FileState]] = []
        removals: list[str] = []
        renames: list[tuple[str, str]] = []
        for outcome in buffer:
            if isinstance(outcome, PostRecord):
                upserts.append(outcome)
                if outcome.path not in known and (old := renamed_from.pop(outcome.file.content_hash, None)):
                    renames.append((old, outcome.path))
                    renamed.add(old)
            elif isinstance(outcome, _Unchanged):
                touches.append((outcome.path, outcome.state))
                report.unchanged += 1
            elif isinstance(outcome, _Unpublished):
                if outcome.path in known:
                    removals.append(outcome.path)
            else:  # reported by the caller, from report.failed: the CLI prints it, the bot logs it
                report.failed.append(outcome)
        added, updated, removed = await store.write_batch(upserts, removals, touches, renames=renames)
        report.added += added
        report.updated += updated
        report.removed += removed
        done += len(buffer)
        buffer.clear()
        if progress is not None:
            progress(done, total)

    async def absorb(outcomes: list[_Outcome]) -> None:
        buffer.extend(outcomes)
        if len(buffer) >= batch_size:
            await flush()

    if total < POOL_THRESHOLD or workers == 1:
        for chunk in _chunks(jobs, CHUNK_SIZE):
            await absorb(await asyncio.to_thread(_process_chunk, chunk, site))
    else:
        loop = asyncio.get_running_loop()
        worker_count = workers or os.cpu_count() or 1
        # fork: workers inherit the imported modules, so start-up costs milliseconds.
        with ProcessPoolExecutor(worker_count, mp_context=multiprocessing.get_context("fork")) as pool:
            pending = [loop.run_in_executor(pool, _process_chunk, chunk, site) for chunk in _chunks(jobs, CHUNK_SIZE)]
            for next_done in asyncio.as_completed(pending):
                await absorb(await next_done)
    if buffer:
        await flush()

    gone = [path for path in gone if path not in renamed]
    if gone:
        _, _, removed = await store.write_batch(removals=gone)
        report.removed += removed
    await store.finish_ingest()
    report.seconds = time.perf_counter() - started
    log.info("ingest of %s: %s", site.root, report.summary_line())
    return report


def describe_site_problem(root: Path) -> str | None:
    """A fix-it message when `root` cannot be ingested at all, else None."""
    if not root.exists():
        return f"the posts folder {root} does not exist; set KIJI_POSTS_DIR / KIJI_SITE_DIR or pass --posts/--site"
    if not root.is_dir():
        return f"{root} is not a folder; point --posts at the folder holding your Markdown posts"
    try:
        with os.scandir(root):
            pass
    except OSError as exc:
        return f"cannot read the folder {root}: {exc.strerror or exc}; check its permissions"
    return None
