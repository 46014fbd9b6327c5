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

The child lives as long as the bot, dies with it (even under SIGKILL) and is started again when
it died. Its transactions are the ones `ingest` makes, so killing it loses at most the batch in
flight, which the next ingest writes again, as after a crash of the whole bot. A bot that is
stopping refuses the child its next transaction instead (`finish_soon`): the ingest ends after
the batch in flight, whole, without waiting for the thousands of posts after it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from bot.logging_setup import FORMAT, OUR_LOGGERS
from bot.services.ingest import IngestReport, ingest
from bot.services.parse_pool import clean_start, die_with_parent, light_main, worker_pool
from bot.sources.base import Changes
from bot.sources.site_config import Site
from bot.store import KijiStore, StoreError, StoreLocation, open_store

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a child that was asked to stop (its pipe closed) may take to close its store.
STOP_TIMEOUT_S = 10.0
# How long the parse pool outlives the ingest that last used it. Between polls its workers only
# held memory (bench.idle_memory); the next ingest with files to parse starts new ones.
POOL_IDLE_S = 30.0


class IngestInterrupted(Exception):
    """The bot is stopping: the ingest ended after the batch in flight; the next start writes the rest."""


class IngestProcess:
    """`await ingest(site, changes, source_id, now)` runs `bot.services.ingest.ingest` in the child.

    `store` is this process's: the child writes its file, in turn with this process's writes.
    """

    def __init__(self, store: KijiStore, workers: int | None = None, pool_idle_s: float = POOL_IDLE_S) -> None:
        self.store = store
        self.workers = workers or os.cpu_count() or 1
        self.pool_idle_s = pool_idle_s
        self._process: BaseProcess | None = None
        self._pipe: Connection | None = None
        self._lock = asyncio.Lock()  # one request at a time on the pipe
        self._finishing = False  # stopping: the next transaction the child asks for is refused
        self._calls: _Calls | None = None  # the second pipe: work for the child's pool (`executor`)
        self.executor: Executor = _InChildPool(self)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def start(self) -> None:
        """Start the child now (it opens the store and warms its pool), unless it runs already."""
        if self._process is not None and self._process.is_alive():
            return
        if self._process is not None:
            log.info("the ingest process ended (exit code %s); starting a new one", self._process.exitcode)
        self._finishing = False
        # Spawned: started once, a forkserver kept for it would only hold memory (bench.idle_memory).
        context = clean_start("spawn")
        ours, theirs = context.Pipe()
        calls_ours, calls_theirs = context.Pipe()
        levels = {name: logging.getLogger(name).getEffectiveLevel() for name in ("", *OUR_LOGGERS)}
        process = context.Process(
            target=_serve,
            args=(theirs, calls_theirs, self.store.location, os.getpid(), self.workers, levels, self.pool_idle_s),
            name="kiji-ingest",
        )
        with light_main():
            process.start()
        theirs.close()
        calls_theirs.close()
        self._process, self._pipe = process, ours
        self._calls = _Calls(calls_ours)
        log.info("started the ingest process (pid %s)", process.pid)  # to find it with ps, or in tests
        atexit.register(self._kill)  # a bot that never reached close() must not wait for it at exit

    async def ingest(self, site: Site, changes: Changes | None, source_id: int, now: float) -> IngestReport:
        """One source's changes ingested by the child; raises BrokenProcessPool if it or a parse worker died.

        `now` is the bot's store clock at the poll: what new posts are stamped as first seen at.
        """
        report = await self._ask(("ingest", site, changes, source_id, float(now)))
        assert isinstance(report, IngestReport)
        return report

    async def parse_worker_pid(self) -> int:
        """The process id of one of the child's parse workers (to kill it, as an OOM killer would)."""
        pid = await self._ask(("parse_worker_pid",))
        assert isinstance(pid, int)
        return pid

    async def _ask(self, request: tuple[object, ...]) -> object:
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
        """`fn(*args)` in one of the child's pool workers (a web page's extraction), the child started if need be."""
        if self._calls is not None and self._calls.broken:
            self._kill()  # its pipe of calls ended: the child died (it may not be reaped yet); a new one takes over
        self.start()
        assert self._calls is not None
        return self._calls.submit(fn, args)

    def _kill(self) -> None:
        process, self._process, self._pipe = self._process, None, None
        if self._calls is not None:
            self._calls.close()
            self._calls = None
        if process is not None and process.is_alive():
            process.kill()
            process.join(1)

    def finish_soon(self) -> None:
        """Refuse the child its next transaction: a request in flight ends (IngestInterrupted) after its batch."""
        self._finishing = True

    async def stop(self) -> None:
        """Let the child finish its request, close its store and exit; killed if it takes too long."""
        self._finishing = True
        async with self._lock:
            process, pipe = self._process, self._pipe
            self._process = self._pipe = None
            if pipe is not None:
                pipe.close()  # the child reads the end of its pipe and exits
            if self._calls is not None:
                self._calls.close()
                self._calls = None
            if process is not None:
                await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
                if process.is_alive():
                    log.warning("the ingest process did not stop within %g s; killing it", STOP_TIMEOUT_S)
                    process.kill()
                    await asyncio.to_thread(process.join, 1)
            atexit.unregister(self._kill)


class _InChildPool(Executor):
    """The child's pool as an Executor of this process: what a web source extracts its pages in.

    Pages are extracted in parallel, and the bot's process, which answers members, does not hold
    its interpreter lock for the most CPU-heavy part of a backfill.
    """

    def __init__(self, owner: IngestProcess) -> None:
        self._owner = owner

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if kwargs:
            raise TypeError("the ingest process's pool takes positional arguments only")
        return self._owner.submit_to_pool(fn, *args)


class _Calls:
    """This process's end of the pipe of pool calls: numbered calls out, their results back (a thread reads).

    Unlike the ingest requests (one at a time, each with its own write protocol), many calls are in
    flight at once, each answered when its worker is done. If the child dies, every call waiting fails
    with BrokenProcessPool, as a call to a local pool whose worker died would.
    """

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] = {}
        self._numbers = itertools.count()
        self._reader: threading.Thread | None = None
        self._broken: str | None = None

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._broken is None:
                number = next(self._numbers)
                self._waiting[number] = future
                try:
                    self._pipe.send((number, fn, args))
                except (OSError, ValueError) as exc:
                    del self._waiting[number]
                    self._broken = f"the ingest process cannot be reached ({type(exc).__name__})"
                if self._reader is None:
                    self._reader = threading.Thread(target=self._read, name="kiji-pool-calls", daemon=True)
                    self._reader.start()
            broken = self._broken
        if broken is not None:
            future.set_exception(BrokenProcessPool(broken))
        return future

    @property
    def broken(self) -> bool:
        with self._lock:
            return self._broken is not None

    def _read(self) -> None:
        while True:
            try:
                number, ok, value = self._pipe.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                future = self._waiting.pop(number, None)
            if future is None or not future.set_running_or_notify_cancel():
                continue  # cancelled meanwhile: nobody waits for it
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        with self._lock:
            self._broken = "the ingest process ended"
            left, self._waiting = list(self._waiting.values()), {}
        for future in left:
            if future.set_running_or_notify_cancel():
                future.set_exception(BrokenProcessPool("the ingest process ended during a call to its pool"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.close()


# -- the child ---------------------------------------------------------------------


class _StopRequested(Exception):
    """The bot refused a transaction because it is stopping: end the ingest, write nothing more."""


class _PollClock:
    """The store clock of the child: the bot's clock as it was when it polled, sent with each request."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _serve(
    pipe: Connection,
    calls: Connection,
    location: StoreLocation,
    bot_pid: int,
    workers: int,
    levels: Mapping[str, int],
    pool_idle_s: float,
) -> None:
    die_with_parent(bot_pid, ignore_ctrl_c=True)  # and lowers this process's priority, as for parse workers
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    child = _Child(pipe, location, workers)
    threading.Thread(target=child.serve_calls, args=(calls,), name="kiji-pool-calls", daemon=True).start()
    asyncio.run(child.serve(pool_idle_s))


class _PoolOnDemand(Executor):
    """The child's parse pool, started only when a file is handed to it."""

    def __init__(self, child: _Child) -> None:
        self._child = child

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self._child.pool.submit(fn, *args, **kwargs)


class _Child:
    def __init__(self, pipe: Connection, location: StoreLocation, workers: int) -> None:
        self.pipe = pipe
        self.location = location
        self.workers = workers
        self.clock = _PollClock()
        self.store: KijiStore | None = None
        self._pool_lock = threading.RLock()  # the pool is used by the ingest and by the pool calls' thread
        self._calls_in_flight = 0
        self._last_call = time.monotonic()
        self._pool: ProcessPoolExecutor | None = self._new_pool()

    @property
    def pool(self) -> ProcessPoolExecutor:
        """The parse pool, started again after it was let go for being idle."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = self._new_pool()
            return self._pool

    def serve_calls(self, calls: Connection) -> None:
        """Run each call the bot sends (`_Calls`) in the pool, and send its result back once done."""
        sending = threading.Lock()

        def answer(number: int, future: Future[Any]) -> None:
            try:
                reply: tuple[object, ...] = (number, True, future.result())
            except BrokenProcessPool as exc:
                self._replace_broken_pool()
                reply = (number, False, BrokenProcessPool(f"a parse worker died ({exc})"))
            except BaseException as exc:  # the call's own error (a page that is no post), for its caller
                reply = (number, False, exc)
            with sending, contextlib.suppress(OSError):
                try:
                    calls.send(reply)
                except (TypeError, AttributeError, ValueError) as exc:  # a result or error that cannot be pickled
                    calls.send((number, False, RuntimeError(f"{type(exc).__name__}: {exc}")))
            with self._pool_lock:
                self._calls_in_flight -= 1
                self._last_call = time.monotonic()

        while True:
            try:
                number, fn, args = calls.recv()
            except (EOFError, OSError):
                return  # the bot closed its end
            with self._pool_lock:
                self._calls_in_flight += 1
                self._last_call = time.monotonic()
                pool = self.pool
            try:
                future = pool.submit(fn, *args)
            except Exception as exc:  # the pool broke meanwhile: this call fails, the next gets a new one
                future = Future()
                future.set_exception(BrokenProcessPool(str(exc)) if isinstance(exc, RuntimeError) else exc)
            future.add_done_callback(lambda done, number=number: answer(number, done))

    def _replace_broken_pool(self) -> None:
        """A worker died under a call: a new pool takes over for the next one, as after an ingest's."""
        with self._pool_lock:
            if self._pool is not None and self._pool._broken:  # type: ignore[attr-defined]
                self._end_pool(wait=False)

    def _pool_idle(self, pool_idle_s: float) -> bool:
        with self._pool_lock:
            return self._calls_in_flight == 0 and time.monotonic() - self._last_call >= pool_idle_s

    def _new_pool(self) -> ProcessPoolExecutor:
        # Spawned, like this process: a forkserver would stay in memory after the pool is let go.
        pool = worker_pool(self.workers, "spawn", ignore_ctrl_c=True)
        pool.submit(os.getpid)  # a first worker starts now, not at the first post
        return pool

    def _end_pool(self, wait: bool) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)

    @contextlib.asynccontextmanager
    async def _leave_to_write(self) -> AsyncIterator[None]:
        self.pipe.send(("write", None))
        kind, _ = await asyncio.to_thread(self.pipe.recv)
        if kind == "stop":
            raise _StopRequested
        if kind != "go":
            raise RuntimeError(f"the bot answered {kind!r} to a request to write")
        try:
            yield
        finally:
            self.pipe.send(("wrote", None))

    async def serve(self, pool_idle_s: float = POOL_IDLE_S) -> None:
        try:
            while True:
                receiving = asyncio.ensure_future(asyncio.to_thread(self.pipe.recv))
                while self._pool is not None:
                    done, _ = await asyncio.wait({receiving}, timeout=pool_idle_s)
                    if done:
                        break
                    if self._pool_idle(pool_idle_s):  # no ingest and no call for that long
                        self._end_pool(wait=False)  # its workers go until an ingest has files to parse
                try:
                    request = await receiving
                except EOFError:
                    return  # the bot closed its end: stop
                self.pipe.send(await self._answer(request))
        finally:
            self._end_pool(wait=True)  # idle by now: its workers end first
            if self.store is not None:
                await self.store.close()

    async def _answer(self, request: tuple[object, ...]) -> tuple[str, object]:
        try:
            if request[0] == "parse_worker_pid":
                return "ok", await asyncio.get_running_loop().run_in_executor(self.pool, os.getpid)
            _, site, changes, source_id, now = request
            assert isinstance(site, Site) and isinstance(source_id, int) and isinstance(now, float)
            assert changes is None or isinstance(changes, Changes)
            if self.store is None:
                # The bot has migrated and checked the file; opening still begins write transactions
                # (is it writable, is it migrated) that change nothing, and they take their turn too.
                async with self._leave_to_write():
                    self.store = await open_store(self.location, create=False, clock=self.clock, check=False)
                self.store.take_turns_with(self._leave_to_write)
            self.clock.now = now
            pool = _PoolOnDemand(self)  # a poll that finds nothing to parse starts no workers
            return "ok", await ingest(self.store, site, changes=changes, source_id=source_id, executor=pool)
        except _StopRequested:
            return "stopped", None
        except BrokenProcessPool as exc:
            # a parse worker died (killed, out of memory): a new pool takes over for the next request
            self._end_pool(wait=False)
            self._pool = self._new_pool()
            return "pool", f"a parse worker died ({exc})"
        except StoreError as exc:
            return "store", str(exc)
        except Exception as exc:  # reported to the bot, which logs it with the source it was reading
            log.exception("the ingest process failed")
            with contextlib.suppress(Exception):
                if self.store is not None:
                    await self.store.close()
            self.store = None
            return "error", f"{type(exc).__name__}: {exc}"
