"""A background task that works in rounds: started, woken, and stopped only between rounds.

Digests and notices both send from a ledger in rounds; a round in flight holds `_lock`, so
stopping waits for the part being sent to be sent and recorded (the ledger stays exact) and
then cancels the task between rounds. Subclasses write `_run`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import discord

# (guild id, channel id) → the channel to send to, or None when it is gone. A process holding the
# sync lease finds other shards' channels too (`KijiBot.channel_for`); by default, the cache only.
FindChannel = Callable[[int, int], Awaitable[object | None]]


def cached_channel(client: discord.Client) -> FindChannel:
    async def find(_guild_id: int, channel_id: int) -> object | None:
        return client.get_channel(channel_id)

    return find


class RoundTask:
    """The start / wake / stop of one named background task, whose rounds hold `_lock`."""

    task_name = "kiji-rounds"

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # rounds never overlap: two could both send a pending part
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self, grace_seconds: float = 15.0) -> None:
        """Let a part in flight be sent and recorded, then stop."""
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lock.acquire(), timeout=grace_seconds)
            self._lock.release()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Look again now, instead of at the next scheduled moment."""
        self._wake.set()

    async def _run(self) -> None:
        raise NotImplementedError
