"""A blog that is a folder on this disk: a Jekyll site root (with `_config.yml`) or a plain posts folder.

A folder keeps no history, so it cannot say what changed: every poll answers "walk me", and
ingest compares each file's size, mtime and content hash with the store, as it always did.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.sources.base import Changes, SourceError

# What a folder is called in messages, and where the user named it: a folder given as a site is
# not to be called a posts folder.
_NAMED_BY = {
    "site folder": "set KIJI_SITE_DIR or pass --site",
    "posts folder": "set KIJI_POSTS_DIR or pass --posts",
    "folder": "check KIJI_SOURCES / KIJI_SITE_DIR / KIJI_POSTS_DIR or --source",
}


def folder_problem(root: Path, what: str = "folder") -> str | None:
    """A fix-it message when `root` (a "site folder", "posts folder" or "folder") cannot be read as a
    blog's folder at all, else None."""
    if not root.exists():
        return f"the {what} {root} does not exist; {_NAMED_BY.get(what, _NAMED_BY['folder'])}"
    if not root.is_dir():
        return f"{root} is not a folder; {_NAMED_BY.get(what, _NAMED_BY['folder'])} with the folder of your blog"
    try:
        with os.scandir(root):
            pass
    except OSError as exc:
        return f"cannot read the folder {root}: {exc.strerror or exc}; check its permissions"
    return None


class FolderSource:
    """The Source of a local folder; `poll` only checks it is there and tells ingest to walk it."""

    def __init__(self, root: Path | str, name: str | None = None, what: str = "folder") -> None:
        self._root = Path(root)
        self._name = name or f"folder:{self._root}"
        self.what = what  # "site folder", "posts folder" or "folder", for messages

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
        problem = folder_problem(self._root, self.what)
        if problem:
            raise SourceError(problem)
        return Changes(version=None, complete=False)
