"""When to look at the sources again: every `poll_seconds`, and at once when a local post file changes.

Watching is part of the sync service's lifecycle (`bot.services.sync`), not of any command. A
file event (inotify & co) under a local folder asks for that folder's blog to be synced now;
polling every `poll_seconds` is the safety net for file systems and containers that deliver no
events, and the only news of sources that are not folders on this disk. The watcher only asks:
`request(roots)` names the folders whose files changed, `request(None)` means every source. It
never reads a source itself, so a slow one holds up nothing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from watchfiles import Change, awatch

from bot.clock import SYSTEM_CLOCK, Clock, wait_event

log = logging.getLogger(__name__)

# Which sources to sync: the folders whose files changed, or None for every source.
Request = Callable[[Sequence[Path] | None], None]


def post_file_changed(_change: Change, path: str) -> bool:
    return path.endswith((".md", ".markdown", "_config.yml"))


class PostWatcher:
    """Calls `request` on file events under `roots` (with the roots touched) and every `poll_seconds` (None)."""

    def __init__(
        self,
        request: Request,
        roots: Sequence[Path],
        poll_seconds: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
        watch_files: bool = True,
    ) -> None:
        self._request = request
        self.roots = list(roots)
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.watch_files = watch_files
        self.polls = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        if self._tasks:
            return
        self._stop.clear()
        self._tasks.append(asyncio.create_task(self._poll(), name="kiji-poll-timer"))
        if self.watch_files and self.roots:
            self._tasks.append(asyncio.create_task(self._watch(), name="kiji-file-watcher"))

    async def stop(self) -> None:
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            if task.get_name() != "kiji-file-watcher":
                task.cancel()  # the file watcher ends by itself on the stop event, its thread with it
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self) -> None:
        while not await wait_event(self.clock, self._stop, self.poll_seconds):
            self.polls += 1
            self._request(None)

    async def _watch(self) -> None:
        shown = ", ".join(map(str, self.roots))
        try:
            watching = awatch(*self.roots, watch_filter=post_file_changed, debounce=300, stop_event=self._stop)
            async for changes in watching:
                log.debug("files changed under %s: %d", shown, len(changes))
                touched = [root for root in self.roots if any(_under(Path(path), root) for _, path in changes)]
                self._request(touched or None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. inotify watch limit reached: polling still works
            log.warning("not watching %s for changes (%s); polling every %gs", shown, exc, self.poll_seconds)


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
