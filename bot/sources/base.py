"""What every source of posts answers: "what changed since the version you last ingested?".

A source is where one blog's posts come from: a folder on this disk, a git repository, and later a
web feed. Each keeps an up-to-date Jekyll site folder of its own (`site_root`) and tells ingest which
of its files changed since a version that ingest recorded after its last successful commit. The version
lives in the store, not in the source, so a crash between a fetch and the ingest's commit makes the
next poll report the same changes again instead of losing them.

Sources know nothing of the store or of Discord: ingest asks, parses what changed, and writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Changes:
    """Site-relative POSIX paths that changed between `since` and `version`.

    `complete` is False when the source cannot tell what changed (a plain folder, a first clone, a
    history it cannot compare): ingest then walks the whole site and compares it with the store, as
    it always did for folders. Renames let a post keep its identity when git says a file moved.
    """

    version: str | None
    complete: bool = False
    changed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    removed: tuple[str, ...] = ()


class SourceError(Exception):
    """A source could not be brought up to date; the message says why, with no credentials in it."""


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What `/about` and `kiji sources` show of a source."""

    name: str
    display: str
    last_success_at: float | None = None
    last_error: str | None = None
    next_retry_at: float | None = None  # when a failing source is tried again (None: not failing)
    extra: dict[str, str] = field(default_factory=dict)


class Source(Protocol):
    """One blog's posts, kept in a Jekyll site folder that `poll` brings up to date."""

    @property
    def name(self) -> str:
        """A short, stable key for the store and the `blog` option (never holds credentials)."""
        ...

    @property
    def display(self) -> str:
        """Where the posts come from, for people: a path or a URL with any userinfo removed."""
        ...

    @property
    def site_root(self) -> Path:
        """The folder ingest reads: a Jekyll site root or a plain posts folder."""
        ...

    async def poll(self, since: str | None) -> Changes:
        """Bring `site_root` up to date and say what changed since version `since` (None: never ingested).

        Raises SourceError with a reason a person can act on; the previous `site_root` stays readable.
        """
        ...
