"""Ingest every configured source in turn; one that fails is reported and the others still go in.

A blog whose server is down, whose folder is unmounted or whose `_config.yml` is broken must not
keep the other blogs' new posts from being read (and announced). Store errors are not a source's
fault and stop the run: every source would hit them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from bot.services.ingest import IngestReport, IngestRun, ProgressCallback, ingest_source
from bot.sources.base import Source, SourceError
from bot.sources.post_error import PostError
from bot.sources.site_config import Site, load_site
from bot.sources.specs import redact
from bot.store import Store, StoreError

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
    store: Store,
    sources: Sequence[Source],
    *,
    load: Callable[[Path], Site] = load_site,
    progress: ProgressCallback | None = None,
    run: IngestRun | None = None,
) -> list[SourceOutcome]:
    """`ingest_source` for each source, in order; a source that cannot be read gets its reason instead.

    `run` ingests each source's changes elsewhere (the running bot's ingest process), as for `ingest_source`.
    """
    outcomes: list[SourceOutcome] = []
    for source in sources:
        loaded: list[Site] = []
        source_id = await store.register_source(source.name, source.display)
        try:
            report = await ingest_source(
                store,
                source,
                load=_keeping(load, loaded),
                progress=progress,
                source_id=source_id,
                run=run,
            )
        except (StoreError, BrokenProcessPool):
            raise  # the store or the parse processes are broken: no source can go on
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
            outcomes.append(SourceOutcome(source, report, site))
            continue
        error = redact(error)  # sources redact their own messages; this is the belt to those braces
        log.info("could not update %s: %s", redact(source.display), error)  # the caller reports it
        await store.record_source_failure(source_id, error)
        outcomes.append(SourceOutcome(source, None, loaded[-1] if loaded else None, error))
    return outcomes
