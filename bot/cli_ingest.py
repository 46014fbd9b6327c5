"""The `kiji` commands about where posts come from: `ingest`, `sources` and `backup`.

They are the ones that write the store or report on its sources; the reading commands and
the bot's own are in `bot.cli`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.cli_base import EXIT_OK, CommandFailed, configured_sources, count, opened_store, print_json
from bot.services.blogs import SourceOutcome, ingest_all, merged
from bot.services.ingest import IngestReport
from bot.services.parse_pool import worker_pool
from bot.settings import Settings
from bot.sources.abilities import ExtractsElsewhere, ReportsProgress
from bot.sources.site_config import Site, site_path
from bot.sources.specs import SpecError, parse_spec
from bot.store import StoreError
from bot.store.cluster_events import POSTS_CHANGED, ClusterEvent
from bot.store.interface import ClusterEvents

log = logging.getLogger(__name__)


class _ProgressBar:
    """A one-line progress bar on a terminal; silent when output is piped."""

    def __init__(self, stream: TextIO, label: str = "reading posts") -> None:
        self.stream = stream
        self.label = label
        self.enabled = stream.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        width = 30
        filled = width * done // total
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


def _backfill_bar(bar: _ProgressBar) -> Callable[[int, int], None]:
    """A web blog's archive backfill on the same line as the ingest's bar, under its own label."""
    pages = _ProgressBar(bar.stream, "fetching archive pages")

    def draw(done: int, total: int) -> None:
        pages(done, total)
        if done == total:
            pages.finish()

    return draw


@contextlib.contextmanager
def _extraction_pool(sources: Sequence[object]) -> Iterator[Executor | None]:
    """A process pool for the web blogs' page extraction and cleaning (most of a backfill's CPU), in parallel.

    Only when there is a web blog: a folder's ingest makes its own pool when it is large.
    """
    if not any(isinstance(source, ExtractsElsewhere) for source in sources):
        yield None
        return
    with worker_pool(os.cpu_count() or 1) as pool:
        yield pool


async def _tell_running_bots(store: ClusterEvents, outcomes: Sequence[SourceOutcome]) -> None:
    """Posts changed: bots running on the same PostgreSQL store drop their cached tag and title lists now.

    As the lease holder does after its own ingests (`bot.services.cluster`); on SQLite no other process
    hears it, and their caches expire within a minute as before.
    """
    if not any(o.report and (o.report.added or o.report.updated or o.report.removed) for o in outcomes):
        return
    try:
        await store.publish_event(ClusterEvent(POSTS_CHANGED))
    except StoreError as exc:  # the posts are stored; only the other processes' caches lag
        log.warning("could not tell running bots that posts changed (their lists refresh within a minute): %s", exc)


async def run_ingest(settings: Settings, out: TextIO, as_json: bool) -> int:
    """Ingest every configured source; a source that fails is reported, the others still go in (exit 2)."""
    sources = configured_sources(settings)
    bar = _ProgressBar(sys.stderr) if not as_json else None
    for source in sources if bar else ():
        if isinstance(source, ReportsProgress):
            source.report_progress(_backfill_bar(bar))  # type: ignore[arg-type]
    new = not settings.database_url and _not_there_yet(settings.db_path)  # a file this ingest would create
    async with opened_store(settings, create=True) as store:
        try:
            with _extraction_pool(sources) as pool:
                outcomes = await ingest_all(store, sources, load=settings.load_site, progress=bar, executor=pool)
        except StoreError as exc:
            raise CommandFailed(str(exc)) from exc
        finally:
            if bar:
                bar.finish()
        await _tell_running_bots(store, outcomes)
    if new and all(outcome.error is not None for outcome in outcomes):
        _remove_new_store(settings.db_path, new)
    report = merged(outcomes)
    failed_sources = [outcome for outcome in outcomes if outcome.error is not None]
    if as_json:
        print_json({**report.as_json(), "sources": [outcome.as_json() for outcome in outcomes]}, out)
    else:
        several = len(outcomes) > 1
        for outcome in outcomes:
            if outcome.report is None:
                continue
            prefix = f"{outcome.source.display}: " if several else ""
            out.write(prefix + outcome.report.summary_line() + "\n")
            for failure in outcome.report.failed:  # the file the user can open, not the path Jekyll calls it
                shown = site_path(outcome.site, failure.path) if outcome.site else failure.path
                out.write(f"  failed: {shown}: {failure.error}\n")
    for outcome in outcomes:
        if outcome.report is not None and outcome.site is not None:
            for note in _ingest_notes(settings, outcome.site, outcome.report):
                print(f"kiji ingest: {note}", file=sys.stderr)
    if not failed_sources:
        return EXIT_OK
    reasons = "; ".join(
        f"{outcome.error}" if len(outcomes) == 1 else f"{outcome.source.display}: {outcome.error}"
        for outcome in failed_sources
    )
    if len(failed_sources) < len(outcomes):
        reasons += " (the other sources were ingested)"
    raise CommandFailed(reasons)


def _not_there_yet(db_path: Path) -> list[Path]:
    """The database and the folders above it that do not exist yet (deepest first): what an ingest creates."""
    missing: list[Path] = []
    path = db_path.absolute()
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_new_store(db_path: Path, created: list[Path]) -> None:
    """Take back a store this ingest created when no source could be read: left there, the next
    `kiji search` of a mistyped path would answer "0 results" instead of "no database"."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path.absolute()}{suffix}").unlink(missing_ok=True)
    for folder in created[1:]:
        try:
            folder.rmdir()
        except OSError:  # something else was put there meanwhile: it stays
            break


def _ingest_notes(settings: Settings, site: Site, report: IngestReport) -> list[str]:
    """What the user most likely did not mean: a site without configuration, a folder without posts."""
    notes = []
    if settings.site_dir is not None and site.root == settings.site_dir and not (site.root / "_config.yml").is_file():
        links = "" if site.url else "; post links will be relative (set KIJI_SITE_URL=https://your.blog for full ones)"
        notes.append(f"{site.root} has no _config.yml, so Jekyll's defaults apply{links}")
    if not (report.added or report.updated or report.unchanged or report.failed):
        where = "in its _posts/ folder" if not site.posts_only else "in it"
        notes.append(
            f"no posts in {site.root}: a post is a Markdown file named YYYY-MM-DD-title.md with front matter, {where}"
        )
    return notes


def _configured_names(settings: Settings) -> list[str]:
    """The store names of the configured sources, without building them (no git needed to list them)."""
    try:
        return [parse_spec(spec).name for spec in settings.source_specs]
    except SpecError as exc:
        raise CommandFailed(f"{exc} (KIJI_SOURCES or --source)") from exc


async def run_sources(settings: Settings, out: TextIO, as_json: bool) -> int:
    """Every blog the store holds or the settings name: posts, last successful update, last error.

    Read from the store, so it answers while the bot runs elsewhere, or not at all.
    """
    configured = _configured_names(settings)
    async with opened_store(settings) as store:
        stored = await store.sources()
    rows = [(blog, blog.name in configured) for blog in stored]
    stored_names = {blog.name for blog in stored}
    never_read = [name for name in configured if name not in stored_names]
    if as_json:
        listed = [{**blog.as_json(), "configured": is_configured} for blog, is_configured in rows]
        listed += [
            {"name": name, "display": name, "posts": 0, "last_success_at": None, "last_error": None, "configured": True}
            for name in never_read
        ]
        print_json(listed, out)
        return EXIT_OK
    for blog, is_configured in rows:
        out.write(f"{blog.label}{'' if is_configured else '  (no longer configured)'}\n")
        if blog.label != blog.display and blog.display:
            out.write(f"  {blog.display}\n")
        out.write(f"  {count(blog.posts, 'post')}, last updated {_when(blog.last_success_at)}\n")
        if blog.last_error:
            out.write(f"  last error ({_when(blog.last_error_at)}): {blog.last_error}\n")
    for name in never_read:
        out.write(f"{name}\n  never read (run `kiji ingest`)\n")
    return EXIT_OK


def _when(moment: float | None) -> str:
    if not moment:
        return "never"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def run_backup(settings: Settings, out: TextIO, as_json: bool, target: Path) -> int:
    async with opened_store(settings) as store:
        try:
            subscriptions, deliveries = await store.backup(target)
        except StoreError as exc:
            raise CommandFailed(str(exc)) from exc
    if as_json:
        print_json({"backup": str(target), "subscriptions": subscriptions, "deliveries": deliveries}, out)
    else:
        out.write(f"backed up {settings.db_path} to {target}: {subscriptions} subscriptions, {deliveries} deliveries\n")
    return EXIT_OK
