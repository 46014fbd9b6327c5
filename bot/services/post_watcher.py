"""Keeps the store in line with every source for as long as the bot runs.

Watching for changed posts is part of the bot's lifecycle, not of any command: it starts
when the bot has set itself up and stops when it closes, whatever cogs are loaded. A file
event (inotify & co) under a local folder starts a check at once; polling every `poll_seconds`
is the safety net for file systems and containers that deliver no events, and the only news
of sources that are not folders on this disk (a git remote changes when its fetch says so).
After each check the listeners run (the announcer queues what became new).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from watchfiles import Change, awatch

from bot.clock import SYSTEM_CLOCK, Clock, wait_event
from bot.services.ingest import IngestReport

log = logging.getLogger(__name__)

Listener = Callable[[IngestReport], None]


def post_file_changed(_change: Change, path: str) -> bool:
    return path.endswith((".md", ".markdown", "_config.yml"))


class PostWatcher:
    """Runs `check` (an ingest) on file events and every `poll_seconds`, then tells the listeners."""

    def __init__(
        self,
        check: Callable[[], Awaitable[IngestReport]],
        roots: Sequence[Path],
        poll_seconds: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
        watch_files: bool = True,
    ) -> None:
        self._check = check
        self.roots = list(roots)
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.watch_files = watch_files
        self.listeners: list[Listener] = []
        self.checks = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        if self._tasks:
            return
        self._stop.clear()
        self._tasks.append(asyncio.create_task(self._poll(), name="kiji-post-watcher"))
        if self.watch_files and self.roots:
            self._tasks.append(asyncio.create_task(self._watch(), name="kiji-file-watcher"))

    async def stop(self) -> None:
        """Stop watching; an ingest in flight is cancelled (each of its batches commits whole or not at all)."""
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            if task.get_name() != "kiji-file-watcher":
                task.cancel()  # the file watcher ends by itself on the stop event, its thread with it
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Check now instead of at the next poll."""
        self._wake.set()

    async def check_now(self) -> IngestReport:
        """One check, then the listeners: what a file event or the poll does."""
        report = await self._check()
        self.checks += 1
        for listener in self.listeners:
            try:
                listener(report)
            except Exception:
                log.exception("a listener of the post watcher failed")
        return report

    async def _poll(self) -> None:
        while not self._stop.is_set():
            await wait_event(self.clock, self._wake, self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                await self.check_now()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking for changed posts failed; trying again at the next poll")

    async def _watch(self) -> None:
        shown = ", ".join(map(str, self.roots))
        try:
            watching = awatch(*self.roots, watch_filter=post_file_changed, debounce=300, stop_event=self._stop)
            async for changes in watching:
                log.debug("files changed under %s: %d", shown, len(changes))
                self.wake()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. inotify watch limit reached: polling still works
            log.warning("not watching %s for changes (%s); polling every %gs", shown, exc, self.poll_seconds)
