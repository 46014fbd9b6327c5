"""A blog that is a folder on this disk: a Jekyll site root (with `_config.yml`) or a plain posts folder.

A folder keeps no history, so it cannot say what changed: every poll answers "walk me", and
ingest compares each file's size, mtime and content hash with the store, as it always did.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.sources.base import Changes, SourceError


def folder_problem(root: Path) -> str | None:
    """A fix-it message when `root` cannot be read as a blog's folder at all, else None."""
    if not root.exists():
        return f"the posts folder {root} does not exist; set KIJI_POSTS_DIR / KIJI_SITE_DIR or pass --posts/--site"
    if not root.is_dir():
        return f"{root} is not a folder; point --posts at the folder holding your Markdown posts"
    try:
        with os.scandir(root):
            pass
    except OSError as exc:
        return f"cannot read the folder {root}: {exc.strerror or exc}; check its permissions"
    return None


class FolderSource:
    """The Source of a local folder; `poll` only checks it is there and tells ingest to walk it."""

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
        problem = folder_problem(self._root)
        if problem:
            raise SourceError(problem)
        return Changes(version=None, complete=False)
