"""Ingest a configured source, or each in turn; one that fails is reported and the others still go in.

A blog whose server is down, whose folder is unmounted or whose `_config.yml` is broken must not
keep the other blogs' new posts from being read (and announced). Store errors are not a source's
fault and stop the run: every source would hit them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from bot.services.ingest import IngestReport, IngestRun, ProgressCallback, ingest_source
from bot.services.ingest_process import IngestInterrupted
from bot.sources.base import Source, SourceError
from bot.sources.post_error import PostError
from bot.sources.site_config import Site, load_site, site_path
from bot.sources.specs import redact
from bot.store import KijiStore, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one source's ingest came to: a report, or the reason it could not be read."""

    source: Source
    report: IngestReport | None = None
    site: Site | None = None
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source.name,
            "display": self.source.display,
            "report": self.report.as_json() if self.report else None,
            "error": self.error,
        }


def _keeping(load: Callable[[Path], Site], loaded: list[Site]) -> Callable[[Path], Site]:
    """`load`, also keeping what it read: the site a source was read as, for /about and dates."""

    def load_and_keep(root: Path) -> Site:
        site = load(root)
        loaded.append(site)
        return site

    return load_and_keep


def merged(outcomes: Sequence[SourceOutcome]) -> IngestReport:
    """One report adding up every source's (failed posts named with their source when there are several)."""
    total = IngestReport()
    several = len(outcomes) > 1
    for outcome in outcomes:
        report = outcome.report
        if report is None:
            continue
        total.added += report.added
        total.updated += report.updated
        total.removed += report.removed
        total.unchanged += report.unchanged
        total.seconds += report.seconds
        for failure in report.failed:
            total.failed.append(
                type(failure)(f"{outcome.source.display}: {failure.path}", failure.error) if several else failure
            )
    return total


async def ingest_all(
    store: KijiStore,
    sources: Sequence[Source],
    *,
    load: Callable[[Path], Site] = load_site,
    progress: ProgressCallback | None = None,
    run: IngestRun | None = None,
    executor: Executor | None = None,
) -> list[SourceOutcome]:
    """`sync_source` for each source, in order (`kiji ingest`; the bot syncs them at once, see `bot.services.sync`)."""
    return [
        await sync_source(store, source, load=load, progress=progress, run=run, executor=executor) for source in sources
    ]


async def sync_source(
    store: KijiStore,
    source: Source,
    *,
    load: Callable[[Path], Site] = load_site,
    progress: ProgressCallback | None = None,
    run: IngestRun | None = None,
    executor: Executor | None = None,
) -> SourceOutcome:
    """`ingest_source` for one source, its outcome recorded in the store; a source that cannot be read gets its reason.

    `run` ingests the source's changes elsewhere (the running bot's ingest process), as for `ingest_source`;
    `executor` is the process pool a web blog's pages are extracted and cleaned in.
    Raises only what no source could get past: a broken store, or parse processes that died.
    """
    loaded: list[Site] = []
    source_id = await store.register_source(source.name, source.display)
    await store.record_read_started(source_id)  # until a first read succeeds, what it stores is the past
    try:
        report = await ingest_source(
            store,
            source,
            load=_keeping(load, loaded),
            progress=progress,
            source_id=source_id,
            run=run,
            executor=executor,
        )
    except (StoreError, BrokenProcessPool, IngestInterrupted):
        raise  # the store or the parse processes are broken, or the bot is stopping: no source can go on
    except SourceError as exc:
        error = str(exc)
    except PostError as exc:
        error = f"cannot read the site configuration {exc}"
    except OSError as exc:
        error = f"cannot read {exc.filename or source.display}: {exc.strerror or exc}; check its permissions"
    except Exception as exc:  # a bug in one source must not stop the others; say which source hit it
        log.exception("unexpected error while ingesting %s", redact(source.display))
        error = f"internal error: {type(exc).__name__}: {exc}"
    else:
        site = loaded[-1] if loaded else None
        url = (site.url + site.baseurl) if site is not None and site.url else report.blog_url
        title = (site.title or None) if site is not None else report.blog_title
        await store.record_source_success(source_id, title, url)
        return SourceOutcome(source, report, site)
    return await record_failure(store, source, redact(error), loaded[-1] if loaded else None, source_id)


async def record_failure(
    store: KijiStore, source: Source, error: str, site: Site | None = None, source_id: int | None = None
) -> SourceOutcome:
    """Record in the store that `source` could not be read, and why (already free of credentials)."""
    error = redact(error)  # sources redact their own messages; this is the belt to those braces
    log.info("could not update %s: %s", redact(source.display), error)  # the caller reports it
    if source_id is None:
        source_id = await store.register_source(source.name, source.display)
    await store.record_source_failure(source_id, error)
    return SourceOutcome(source, None, site, error)


def failed_post_line(outcome: SourceOutcome, path: str, error: str) -> str:
    """A post that could not be read, named by the file on disk the user can open."""
    where = site_path(outcome.site, path) if outcome.site is not None else f"{outcome.source.display}: {path}"
    return f"post not loaded: {where}: {error}"
