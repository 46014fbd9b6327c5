"""What every source of posts answers: "what changed since the version you last ingested?".

A source is where one blog's posts come from: a folder on this disk, a git repository, a web feed.
It answers with *entries* of one of two kinds, and ingest dispatches on the kind:

- file entries (`Changes`): a Jekyll site source (folder, git) keeps an up-to-date site folder
  (`site_root`) and names the files that changed; the Jekyll reader makes posts of them, and a
  post's identity is its path in the site, as Jekyll's own;
- article entries (`Articles`): a web source has no files, only articles already extracted from a
  feed or a page (`Article`), each with a stable identity in its blog (`ArticleEntry.key`: the feed
  entry's id) and a version (a hash of what it says).

The version of the whole source lives in the store, not in the source, so a crash between a fetch
and the ingest's commit makes the next poll report the same changes again instead of losing them.

Sources know nothing of the store or of Discord: ingest asks, reads what changed, and writes.
Optional abilities are small protocols (`bot.sources.abilities`), checked with isinstance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.content.article_text import DerivedText


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


@dataclass(frozen=True, slots=True)
class Article:
    """A post as a web page or feed entry states it, already extracted: no Jekyll reading needed.

    `body` is Markdown-ish text (converted from the page's HTML by the source), so it goes through
    the same cleaning, search tokens and summaries as a Markdown post's body.
    """

    title: str
    url: str  # where people read it (the canonical URL when the page names one)
    published: float  # seconds since the epoch, UTC
    body: str
    author: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    updated: float | None = None
    image: str | None = None  # the picture the page or entry names (og:image, media), resolved; not in the version


@dataclass(frozen=True, slots=True)
class ArticleEntry:
    """One article and who it is: `key` is stable inside its blog, `version` changes when it is edited.

    `canonical` is a second key (the URL without tracking parameters or fragment): the page the
    sitemap found and the same post's feed entry are one post. `archive` entries come from the
    backfill of a blog's past: stored silently, never announced. `derived`: the article's cleaned
    text and tokens when they were made already (in the worker that extracted its page).
    """

    key: str
    version: str
    canonical: str
    article: Article
    archive: bool = False
    derived: DerivedText | None = None


@dataclass(frozen=True, slots=True)
class EntryProblem:
    """An entry (or page) that could not be read this time; reported, retried at the next poll."""

    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class Articles:
    """What a web source says changed: the articles it holds now (unchanged ones are skipped by version).

    Nothing is ever removed because it left a feed: a feed holds only its newest entries.
    """

    version: str | None
    entries: tuple[ArticleEntry, ...] = ()
    problems: tuple[EntryProblem, ...] = ()
    title: str | None = None  # the blog's name as its feed says it
    home: str | None = None  # the blog's address for people


class Source(Protocol):
    """One blog's posts: `poll` says what changed, as file entries (`Changes`) or `Articles`."""

    @property
    def name(self) -> str:
        """A short, stable key for the store and the `blog` option (never holds credentials)."""
        ...

    @property
    def display(self) -> str:
        """Where the posts come from, for people: a path or a URL with any userinfo removed."""
        ...

    async def poll(self, since: str | None) -> Changes | Articles:
        """Say what changed since version `since` (None: never ingested).

        Raises SourceError with a reason a person can act on.
        """
        ...


@runtime_checkable
class SiteSource(Protocol):
    """A source kept as a Jekyll site folder: its `poll` brings `site_root` up to date and returns `Changes`."""

    @property
    def name(self) -> str: ...

    @property
    def display(self) -> str: ...

    @property
    def site_root(self) -> Path:
        """The folder ingest reads: a Jekyll site root or a plain posts folder."""
        ...

    async def poll(self, since: str | None) -> Changes: ...
