"""The running bot's ingest, in a process of its own that writes to the same SQLite file.

On two cores, an ingest inside the bot's process shared its interpreter lock with the replies
to members: unpickling the pool's parsed posts, building each batch's rows, reading the
100,000 stored file states to compare with the disk. Each is milliseconds to a few hundred of
them, with the lock held, while a /search waited (bench.latency_during_ingest). Here the whole
`ingest` runs in a child process with its own event loop, its own writer connection and its
own parse pool, all at a lower CPU priority; the bot's process only sends (site, changes) and
gets the report back. SQLite's WAL lets the bot's readers go on while the child commits. The
child asks the bot before each transaction, and the bot answers when its own writes queued
before have gone: the two processes' writes form one queue, and a command's write never waits
on SQLite's lock behind batch after batch until its timeout.

A second pipe carries work for the child's pool (`executor`: a web page's extraction), many calls
at once (`bot.services.pool_calls`). Its parse pool lives while there is work for it, and is forked
from the child, so starting it again for the next ingest costs milliseconds. The child itself, when
`idle_s` is set (KIJI_INGEST_IDLE_SECONDS), is *renewed* after so long without a request and with no
call out (on the bot's injected clock), if it did work since it started: a fresh one takes its place
at once, and what the work left the old one holding (a fragmented heap) goes back to the system with
it. An idle bot holds a fresh ingest process, never a used one, and the next ingest finds one ready
(bench.idle_memory measures both). It dies with the bot (even under SIGKILL) and is started again when it died.
Its transactions are the ones `ingest` makes, so killing it loses at most the batch in flight, which
the next ingest writes again, as after a crash of the whole bot. A bot that is stopping refuses the
child its next transaction instead (`finish_soon`): the ingest ends after the batch in flight, whole,
without waiting for the thousands of posts after it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from bot.clock import SYSTEM_CLOCK, Clock
from bot.logging_setup import OUR_LOGGERS
from bot.services.ingest import IngestReport
from bot.services.ingest_child import POOL_IDLE_S
from bot.services.pool_calls import InChildPool, PoolCalls
from bot.sources.base import Changes
from bot.sources.site_config import Site
from bot.store import KijiStore, StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a child that was asked to stop (its pipe closed) may take to close its store.
STOP_TIMEOUT_S = 10.0
# How long a used ingest process outlives the request it last answered before a fresh one replaces it
# (on the bot's clock); None: never (KIJI_INGEST_IDLE_SECONDS=0). A fresh process holds 18–19 MB; one
# that ingested a few hundred posts held ~31 MB even with its heap trimmed after each request
# (bench.idle_memory: the whole idle bot within 80 MB or not). Letting it go instead of renewing it
# saved 25 MB more, but the first ingest after a quiet spell then waited for a process start: 1.83×
# as long as a warm one. Renewing costs that start while nothing waits for it.
IDLE_S: float | None = 30.0


# The child's program: Python started afresh on this process's import path, serving the two pipes it is
# handed (requests, pool calls). A `-c` program has no `__main__` file for its spawned parse workers to
# import again: the program that runs the bot (the CLI, a test harness importing discord.py) is loaded
# in none of them.
_CHILD_MAIN = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[4]);"
    " from bot.services.ingest_child import serve_pipe;"
    " serve_pipe(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))"
)


class IngestInterrupted(Exception):
    """The bot is stopping: the ingest ended after the batch in flight; the next start writes the rest."""


class IngestProcess:
    """`await ingest(site, changes, source_id, now)` runs `bot.services.ingest.ingest` in the child.

    `store` is this process's: the child writes its file, in turn with this process's writes.
    """

    def __init__(
        self,
        store: KijiStore,
        workers: int | None = None,
        pool_idle_s: float = POOL_IDLE_S,
        *,
        idle_s: float | None = IDLE_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.workers = workers or os.cpu_count() or 1
        self.pool_idle_s = pool_idle_s
        self.idle_s = idle_s
        self.clock = clock
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: Connection | None = None
        self._lock = asyncio.Lock()  # one request at a time on the pipe
        self._finishing = False  # stopping: the next transaction the child asks for is refused
        self._activity = 0  # counts requests begun and ended: an idle stop armed before one is void
        self._idle_stop: asyncio.Task[None] | None = None  # sleeping until the child has been idle long enough
        self._renewing = False  # the child is being replaced for being idle: starting again is routine
        self._worked = False  # the child parsed, wrote or ran a call since it started: renewing it frees memory
        self._calls: PoolCalls | None = None  # the second pipe: work for the child's pool (`executor`)
        self.executor: Executor = InChildPool(self.submit_to_pool)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def fresh(self) -> bool:
        """Running, and has done no work since it started (as after a renewal): nothing to renew."""
        return self.pid is not None and not self._worked

    def start(self) -> None:
        """Start the child now (it opens the store at its first request), unless it runs already.

        A plain subprocess, not multiprocessing's spawn: spawn starts multiprocessing's resource
        tracker in the starting process, a Python process of its own (7 MB) kept for as long as the
        bot runs. Started this way, the tracker is the child's, for its pool, and goes with it.
        """
        if self._process is not None and self._process.poll() is None:
            return
        if self._process is not None:
            log.info("the ingest process ended (exit code %s); starting a new one", self._process.returncode)
        self._finishing = False
        ours, theirs = socket.socketpair()
        calls_ours, calls_theirs = socket.socketpair()
        fds = [theirs.fileno(), calls_theirs.fileno()]
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, *map(str, fds), str(os.getpid()), json.dumps(sys.path)],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            calls_ours.close()
            raise
        finally:
            theirs.close()
            calls_theirs.close()
        pipe = Connection(ours.detach())
        self._calls = PoolCalls(Connection(calls_ours.detach()))
        levels = {name: logging.getLogger(name).getEffectiveLevel() for name in ("", *OUR_LOGGERS)}
        pipe.send((self.store.location, self.workers, levels, self.pool_idle_s))
        self._process, self._pipe = process, pipe
        # to find it with ps, or in tests; started again after an idle spell, it is routine
        log.log(logging.DEBUG if self._renewing else logging.INFO, "started the ingest process (pid %s)", process.pid)
        self._worked = False
        atexit.register(self._kill)  # a bot that never reached close() must not wait for it at exit
        self._arm_idle_stop()

    async def ingest(self, site: Site, changes: Changes | None, source_id: int, now: float) -> IngestReport:
        """One source's changes ingested by the child; raises BrokenProcessPool if it or a parse worker died.

        `now` is the bot's store clock at the poll: what new posts are stamped as first seen at.
        """
        report = await self._ask(("ingest", site, changes, source_id, float(now)))
        assert isinstance(report, IngestReport)
        if report.added or report.updated or report.removed or report.failed:
            self._worked = True  # a poll that found nothing new leaves the child as it was
            self._arm_idle_stop()  # now that it is used: renewed when idle
        return report

    async def parse_worker_pid(self) -> int:
        """The process id of one of the child's parse workers (to kill it, as an OOM killer would)."""
        pid = await self._ask(("parse_worker_pid",))
        assert isinstance(pid, int)
        return pid

    async def _ask(self, request: tuple[object, ...]) -> object:
        self._note_activity()
        try:
            return await self._ask_now(request)
        finally:
            self._arm_idle_stop()

    def _note_activity(self) -> None:
        self._activity += 1
        if self._idle_stop is not None:
            self._idle_stop.cancel()
            self._idle_stop = None

    def _arm_idle_stop(self) -> None:
        """Renew a used child once `idle_s` pass on the clock without a request (none is armed outside a loop)."""
        self._note_activity()
        if self._process is None or self._finishing or not self.idle_s or not self._worked:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._idle_stop = loop.create_task(self._renew_when_idle(self._activity), name="kiji-ingest-idle")

    async def _renew_when_idle(self, armed_at: int) -> None:
        await self.clock.sleep(self.idle_s or 0.0)
        self._idle_stop = None  # from here it is not cancelled: the child is renewed whole, or not at all
        async with self._lock:
            if armed_at != self._activity or self._process is None or self._finishing:
                return  # a request came meanwhile (it armed a stop of its own), or the bot is stopping
            if self._calls is not None and self._calls.pending:
                return  # a call to its pool is still out; its answer arms the next stop
            log.debug("the ingest process was idle for %g s; a fresh one takes its place", self.idle_s)
            self._renewing = True
            try:
                await self._end_child()
                self.start()  # it imports while nothing waits for it; the next request finds it ready
            finally:
                self._renewing = False

    async def _ask_now(self, request: tuple[object, ...]) -> object:
        async with self._lock:
            self.start()
            pipe = self._pipe
            assert pipe is not None
            try:
                pipe.send(request)
                kind, value = await asyncio.to_thread(pipe.recv)
                while kind == "write":  # the child's leave to write one transaction
                    if self._finishing:  # stopping: the batch in flight was the last one
                        pipe.send(("stop", None))
                        kind, value = await asyncio.to_thread(pipe.recv)
                        continue
                    async with self.store.writes_of_another_process():
                        pipe.send(("go", None))
                        kind, value = await asyncio.to_thread(pipe.recv)
                        if kind != "wrote":
                            raise EOFError(f"{kind} while writing")
                    kind, value = await asyncio.to_thread(pipe.recv)
            except (EOFError, OSError) as exc:
                self._kill()
                raise BrokenProcessPool(f"the ingest process ended unexpectedly ({type(exc).__name__})") from exc
            except BaseException:
                # Cancelled (the bot is closing): the batch in flight is rolled back with the child,
                # and the next ingest starts a new one that writes it again.
                self._kill()
                raise
        if kind == "ok":
            return value
        if kind == "stopped":
            raise IngestInterrupted("the bot is stopping; the ingest stopped after its last whole batch")
        if kind == "store":
            raise StoreError(value)
        if kind == "pool":
            raise BrokenProcessPool(value)
        raise RuntimeError(f"the ingest process failed: {value}")

    def submit_to_pool(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """`fn(*args)` in one of the child's pool workers (a web page's extraction), the child started if need be.

        Called on the bot's event loop (`loop.run_in_executor(executor, ...)`): a call is activity, and
        the child is not let go while one is out; its answer arms the next idle stop.
        """
        if self._calls is not None and self._calls.broken:
            self._kill()  # its pipe of calls ended: the child died (it may not be reaped yet); a new one takes over
        self._note_activity()
        self.start()
        self._worked = True
        self._arm_idle_stop()  # it waits for the call's answer, which arms the next one
        assert self._calls is not None
        future = self._calls.submit(fn, args)
        with contextlib.suppress(RuntimeError):  # outside a loop no idle stop is armed either
            loop = asyncio.get_running_loop()
            future.add_done_callback(lambda _: _call_soon(loop, self._arm_idle_stop))
        return future

    def _kill(self) -> None:
        process, self._process, self._pipe = self._process, None, None
        self._close_calls()
        if process is not None and process.poll() is None:
            process.kill()
            _wait(process, 1)

    def finish_soon(self) -> None:
        """Refuse the child its next transaction: a request in flight ends (IngestInterrupted) after its batch."""
        self._finishing = True

    async def stop(self) -> None:
        """Let the child finish its request, close its store and exit; killed if it takes too long."""
        self._finishing = True
        self._note_activity()
        async with self._lock:
            await self._end_child()

    async def _end_child(self) -> None:
        """Close the child's pipe and wait for it to exit (killed if it takes too long); the lock is held."""
        process, pipe = self._process, self._pipe
        self._process = self._pipe = None
        if pipe is not None:
            pipe.close()  # the child reads the end of its pipe and exits
        self._close_calls()
        if process is not None:
            await asyncio.to_thread(_wait, process, STOP_TIMEOUT_S)
            if process.poll() is None:
                log.warning("the ingest process did not stop within %g s; killing it", STOP_TIMEOUT_S)
                process.kill()
                await asyncio.to_thread(_wait, process, 1)
        if self._process is None:  # a call may have started a new child meanwhile; it keeps its exit hook
            atexit.unregister(self._kill)

    def _close_calls(self) -> None:
        if self._calls is not None:
            self._calls.close()
            self._calls = None


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing is left to arm
        loop.call_soon_threadsafe(callback)


def _wait(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout_s)
