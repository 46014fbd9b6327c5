"""The sync lease as a process holds it: take it, renew it while alive, check it before each send.

See `bot.store.leases` for the row. One process at a time polls the blogs and fans out
announcements; `may_send` is the fencing check: it asks the store whether this process's term
(generation) is still the current one and unexpired, so a process that was paused past its expiry
stops before its next send instead of repeating what the next holder sent. Times come from the
injected clock (the store's), so tests move them by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.clock import SYSTEM_CLOCK, Clock
from bot.models import Delivery

log = logging.getLogger(__name__)

SYNC_LEASE = "sync"
DEFAULT_LEASE_SECONDS = 30.0
# Renewed this many times per lease period: two renewals may fail (a slow database) before it lapses.
RENEWALS_PER_PERIOD = 3


class LeaseStore(Protocol):
    """The part of the store a lease needs (`bot.store.leases.SyncLeases`)."""

    async def take_lease(self, name: str, holder: str, seconds: float, now: float | None = None) -> int | None: ...
    async def lease_holds(self, name: str, holder: str, generation: int, now: float | None = None) -> bool: ...
    async def release_lease(self, name: str, holder: str, generation: int) -> None: ...
    async def claim_deliveries(self, name: str, holder: str, generation: int) -> list[Delivery]: ...


def holder_name() -> str:
    """This process among the others: host and pid for people reading the row, and a random part so a
    restarted process with a reused pid is never taken for its predecessor."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class SyncLease:
    """One process's claim on the sync lease; `generation` is its current term, None when not held."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        holder: str | None = None,
        seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        name: str = SYNC_LEASE,
    ) -> None:
        self.store = store
        self.holder = holder or holder_name()
        self.seconds = seconds
        self.clock = clock
        self.name = name
        self.generation: int | None = None

    @property
    def held(self) -> bool:
        return self.generation is not None

    async def renew(self) -> bool:
        """Take the lease, or keep it for another period; whether this process holds it now."""
        generation = await self.store.take_lease(self.name, self.holder, self.seconds)
        if generation != self.generation:
            if generation is None:
                log.warning("lost the sync lease (term %s): another process polls and announces now", self.generation)
            else:
                log.info("holding the sync lease (term %d): this process polls and announces", generation)
        self.generation = generation
        return generation is not None

    async def may_send(self) -> bool:
        """The fencing check before a send: this process's term is still the lease's, and unexpired."""
        generation = self.generation
        if generation is None:
            return False
        if await self.store.lease_holds(self.name, self.holder, generation):
            return True
        log.warning("the sync lease (term %d) lapsed before a send; not sending", generation)
        self.generation = None
        return False

    async def claim_deliveries(self) -> list[Delivery]:
        """The pending deliveries, claimed in the store for this term: none once it is not this process's."""
        generation = self.generation
        if generation is None:
            return []
        return await self.store.claim_deliveries(self.name, self.holder, generation)

    async def keep(self) -> None:
        """Renew until cancelled, RENEWALS_PER_PERIOD times per period; a failed renewal is tried again."""
        while True:
            try:
                await self.renew()
            except Exception:
                log.exception("renewing the sync lease failed; trying again")
            await self.clock.sleep(self.seconds / RENEWALS_PER_PERIOD)

    async def release(self) -> None:
        """Let the lease go at once on a clean stop, so another process need not wait for its expiry."""
        if self.generation is not None:
            await self.store.release_lease(self.name, self.holder, self.generation)
            self.generation = None


class LeaseDuties:
    """The holder's work (polling, ingest, announcing), done while this process holds the lease and only then.

    Every process runs one: each renews (or tries to take) the lease RENEWALS_PER_PERIOD times per
    period on the injected clock; on gaining it, `begin` (start syncing, run an announcer round at
    once, which finishes any fan-out a dead holder left pending in the ledger); on losing it, `end`.
    Between a lapse and the next renewal the announcer's fencing check (`SyncLease.may_send`) is
    what keeps a late process from sending. `stop` ends the duties and releases the lease, so
    another process takes over at once instead of after the expiry.
    """

    def __init__(self, lease: SyncLease, begin: Callable[[], Awaitable[None]], end: Callable[[], Awaitable[None]]):
        self.lease = lease
        self.begin = begin
        self.end = end
        self.active = False
        self._task: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()  # a check and a stop never interleave their begin/end

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._keep(), name="kiji-sync-lease")

    async def _keep(self) -> None:
        while True:
            await self.check()
            await self.lease.clock.sleep(self.lease.seconds / RENEWALS_PER_PERIOD)

    async def check(self) -> None:
        """Renew (or try to take) the lease; begin or end the duties when holding it changed."""
        async with self._turn:
            try:
                held = await self.lease.renew()
            except Exception:
                # The database did not answer: go on as before; the fencing check stops sends if the lease lapses.
                log.exception("renewing the sync lease failed; trying again")
                held = self.lease.held
            if held and not self.active:
                self.active = True
                await self._quietly(self.begin, "starting the sync lease holder's work")
            elif not held and self.active:
                self.active = False
                await self._quietly(self.end, "stopping the sync lease holder's work")

    async def stop(self) -> None:
        """Stop renewing, end the duties (the send in flight finishes), then let the lease go."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._turn:
            if self.active:
                self.active = False
                await self._quietly(self.end, "stopping the sync lease holder's work")
            try:
                await self.lease.release()
            except Exception:
                log.exception("releasing the sync lease failed; another process takes it when it expires")

    @staticmethod
    async def _quietly(step: Callable[[], Awaitable[None]], what: str) -> None:
        try:
            await step()
        except Exception:
            log.exception("%s failed", what)
