"""The Store's methods for the backfill of post pictures (a part of `Store`).

Posts stored before Kiji looked for pictures have none recorded (NULL). The next ingest reads each
of their files once more, for its picture alone, and writes that column and nothing else: no
summary, search row or ledger entry changes, and nothing is announced again. Kept apart from
`bot.store.database` so that module stays readable; `Store` provides `_source`, and `StorePart` the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.store import posts
from bot.store.store_part import StorePart


class PostImages(StorePart):
    """Which stored posts still need their picture looked for, and writing what was found."""

    async def _source(self, source_id: int | None) -> int:
        raise NotImplementedError  # Store's

    async def paths_without_image(self, source_id: int | None = None) -> set[str]:
        """Paths of the blog's posts whose picture was never looked for (stored before the column)."""
        return await self._read(posts.paths_without_image, await self._source(source_id))

    async def fill_images(self, images: Sequence[tuple[str, str]], source_id: int | None = None) -> None:
        """(path, picture URL or '' for none) of such posts: that column alone is written."""
        await self._write(posts.fill_images, await self._source(source_id), list(images))
