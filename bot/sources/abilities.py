"""What only some sources can do, as protocols the sync service asks with `isinstance`.

Every source polls (`bot.sources.base.Source`); a git source can also be told a push arrived
(`PollsOnRequest`: skip its backoff and poll now) and names the repository it follows
(`FollowsPushes`: a push webhook matches deliveries to it). Asking with `isinstance` on a
`runtime_checkable` protocol says which ability is meant, where `getattr(source, "request_poll")`
only said which name was looked up, and a typo there failed silently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.sources.base import Articles


@runtime_checkable
class PollsOnRequest(Protocol):
    """A source that waits between polls (a backoff after failures) and can be told to poll now."""

    def request_poll(self) -> None:
        """Let the next poll run at once, whatever the backoff says (a push arrived)."""
        ...


@runtime_checkable
class FollowsPushes(Protocol):
    """A source following a repository that push webhooks name (by `repository_key`)."""

    @property
    def name(self) -> str: ...

    @property
    def repository_key(self) -> str:
        """The repository's key (`bot.sources.specs.repository_key`), the same for its every URL."""
        ...


@runtime_checkable
class ReportsProgress(Protocol):
    """A source whose poll may take long (a web blog's first backfill): it says how far it got."""

    def report_progress(self, callback: Callable[[int, int], None] | None) -> None:
        """Call `callback(done, total)` as the long part of the next polls goes (the CLI's bar)."""
        ...


@runtime_checkable
class HandsOverEarly(Protocol):
    """A source whose first read is long (a web blog's backfill), that hands over its newest posts first.

    Readers can search a blog's newest posts while the rest of its past is still being fetched. What
    is handed over early comes again, with the rest, in the poll's answer; only that answer's version
    is recorded, so a read cut short hands it all over again.
    """

    def hand_over_early(self, receive: Callable[[Articles], Awaitable[None]] | None) -> None:
        """Call `receive(articles)` with what the next polls read first, before their long part."""
        ...


@runtime_checkable
class ExtractsElsewhere(Protocol):
    """A source whose poll does heavy CPU work per page (a web blog's article extraction).

    Given a process pool (the CLI's, or the running bot's ingest process's), it does that work there:
    in parallel, and out of the process that answers the bot's users.
    """

    def extract_with(self, executor: Executor | None) -> None:
        """Run the extraction in `executor` from now on (None: in a thread of this process)."""
        ...
