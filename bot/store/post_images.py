"""The Store's methods for the backfill of post pictures (a part of `Store`).

Posts stored before Kiji looked for pictures have none recorded (NULL). The next ingest reads each
of their files once more, for its picture alone, and writes that column and nothing else: no
summary, search row or ledger entry changes, and nothing is announced again. Kept apart from
`bot.store.database` so that module stays readable; `Store` provides `_read`, `_write`, `_source`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from bot.store import posts

T = TypeVar("T")


class PostImages:
    """Which stored posts still need their picture looked for, and writing what was found."""

    async def _read(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError  # Store's

    async def _write(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError  # Store's

    async def _source(self, source_id: int | None) -> int:
        raise NotImplementedError  # Store's

    async def paths_without_image(self, source_id: int | None = None) -> set[str]:
        """Paths of the blog's posts whose picture was never looked for (stored before the column)."""
        return await self._read(posts.paths_without_image, await self._source(source_id))

    async def fill_images(self, images: Sequence[tuple[str, str]], source_id: int | None = None) -> None:
        """(path, picture URL or '' for none) of such posts: that column alone is written."""
        await self._write(posts.fill_images, await self._source(source_id), list(images))
