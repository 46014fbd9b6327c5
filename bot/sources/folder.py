"""A blog that is a folder on this disk: a Jekyll site root (with `_config.yml`) or a plain posts folder.

A folder keeps no history, so it cannot say what changed: every poll answers "walk me", and
ingest compares each file's size, mtime and content hash with the store, as it always did.
"""

from __future__ import annotations

from pathlib import Path

from bot.sources.base import Changes


class FolderSource:
    """The Source of a local folder; `poll` only tells ingest to walk it."""

    def __init__(self, root: Path | str, name: str | None = None) -> None:
        self._root = Path(root)
        self._name = name or f"folder:{self._root}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def display(self) -> str:
        return str(self._root)

    @property
    def site_root(self) -> Path:
        return self._root

    async def poll(self, since: str | None) -> Changes:
        return Changes(version=None, complete=False)
