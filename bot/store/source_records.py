"""The Store's methods for the blogs it follows (a part of `Store`): registering them and their reads.

Kept apart from `bot.store.database` so that module stays readable; `Store` provides `_read`,
`_write` and `_now`.
"""

from __future__ import annotations

from bot.models import BlogSource
from bot.store import sources
from bot.store.store_part import StorePart


class SourceRecords(StorePart):
    """Each blog's row: its id, its label, and the outcome of its reads."""

    async def register_source(self, name: str, display: str) -> int:
        """The id of the blog `name` (the first one registered takes over the posts stored before sources)."""
        return await self._write(sources.register, name, display)

    async def default_source_id(self) -> int:
        """The first blog's id (one is made when there is none): for callers that name no source."""
        return await self._write(sources.default_source)

    async def record_source_success(
        self, source_id: int, title: str | None = None, url: str | None = None, now: float | None = None
    ) -> None:
        """The blog was read: when, and its site's title and address as read (for /about and `kiji sources`)."""
        await self._write(sources.record_success, source_id, title, url, self._now(now))

    async def record_read_started(self, source_id: int, now: float | None = None) -> None:
        """A read of the blog began: until one succeeds, what the blog's reads store is its past."""
        await self._write(sources.record_read_started, source_id, self._now(now))

    async def record_source_failure(self, source_id: int, error: str, now: float | None = None) -> None:
        """The blog could not be read, and why; its last success stays as it was."""
        await self._write(sources.record_failure, source_id, error, self._now(now))

    async def sources(self, now: float | None = None) -> list[BlogSource]:
        """Every blog the store knows, in the order first seen, with its visible post count."""
        return await self._read(sources.sources, self._now(now))

    async def source_labels(self) -> dict[int, str]:
        """source id → the blog's label (its site title, else where it comes from), without counting posts."""
        return await self._read(sources.labels)
