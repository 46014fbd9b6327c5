"""When a blog stops updating: which notices are due, and what the failure was, in a word.

The sync service records each blog's failures (`failing_since`: the first one since its last
success). Once a blog has failed for longer than the threshold (KIJI_NOTICE_AFTER_HOURS, 6 by
default), the servers following it are told once per channel, and once more when it is read
again (`bot.store.notices` keeps the ledger). This module knows nothing of Discord: it plans,
and names the kind of failure so the Discord side can say it in the reader's language.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.store import Store

log = logging.getLogger(__name__)

DEFAULT_NOTICE_AFTER_HOURS = 6.0

# Fragments of the error texts sources write (bot.sources: git_runner.explain, folder_problem,
# the web fetcher, the sync's time limit) → the kind of failure, checked in this order.
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("timeout", ("took over", "timed out", "timeout")),
    ("access", ("authentication failed", "permission denied", "access denied", "401", "403", "forbidden")),
    ("config", ("site configuration", "_config.yml")),
    ("missing", ("does not exist", "not there", "not found", "404", "410", "gone", "no such file", "no folder")),
    ("unreachable", ("cannot be reached", "does not resolve", "could not reach", "connection", "unreachable")),
)


def failure_kind(error: str | None) -> str:
    """timeout, access, config, missing, unreachable or other: what a reader needs of `error`."""
    lowered = (error or "").lower()
    for kind, fragments in _KINDS:
        if any(fragment in lowered for fragment in fragments):
            return kind
    return "other"


class NoticePlanner:
    """Queues the notices that came due for the configured blogs (see `bot.store.notices`)."""

    def __init__(
        self, store: Store, configured: Callable[[], Sequence[int]], *, after_hours: float = DEFAULT_NOTICE_AFTER_HOURS
    ) -> None:
        self.store = store
        self.configured = configured
        self.after_seconds = after_hours * 3600.0

    async def plan(self) -> tuple[int, int]:
        """(down, up) notices queued now; blogs no longer configured are never reported."""
        now = self.store.now()
        down, up = await self.store.plan_notices(list(self.configured()), now - self.after_seconds, now)
        if down or up:
            log.info("queued %d notices of blogs that stopped updating and %d of blogs that recovered", down, up)
        return down, up
