"""The ingest process's own side: serve the bot's requests and pool calls (`bot.services.ingest_process`).

This module is what the child imports at start (`serve_pipe`): Python started afresh, with nothing of
the bot's side loaded. Its parse pool is forked from it, so the pool's workers start in milliseconds
with the parser already imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import importlib
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from bot.logging_setup import FORMAT
from bot.services.ingest import ingest
from bot.services.parse_pool import PARSER_MODULES, die_with_parent, worker_pool
from bot.sources.base import Changes
from bot.sources.site_config import Site
from bot.store import KijiStore, StoreError, StoreLocation, open_store

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long the parse pool outlives the ingest that last used it. Between polls its workers only
# held memory (bench.idle_memory); the next ingest with files to parse forks new ones.
POOL_IDLE_S = 30.0


class _StopRequested(Exception):
    """The bot refused a transaction because it is stopping: end the ingest, write nothing more."""


class _PollClock:
    """The store clock of the child: the bot's clock as it was when it polled, sent with each request."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def serve_pipe(fd: int, calls_fd: int, bot_pid: int) -> None:
    """The ingest process's program (`_CHILD_MAIN`): serve the bot's requests on the pipe `fd` until it
    closes, and its calls to the pool on the pipe `calls_fd` meanwhile."""
    die_with_parent(bot_pid, ignore_ctrl_c=True)  # and lowers this process's priority, as for parse workers
    for module in PARSER_MODULES:
        # Imported once here, before any request: the forked workers start with them, where each
        # worker of a fresh process paid ~40 ms for them at its first post (the whole first-post cost).
        importlib.import_module(module)
    pipe, calls = Connection(fd), Connection(calls_fd)
    try:
        location, workers, levels, pool_idle_s = pipe.recv()
    except EOFError:
        return  # the bot let go of it before it was up
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
        self._closing = False  # serving has ended: no new pool is started for a late call
        # Started at the first file to parse or call: the bot starts this process for polls that find nothing new.
        self._pool: ProcessPoolExecutor | None = None

    @property
    def pool(self) -> ProcessPoolExecutor:
        """The parse pool, started again after it was let go for being idle."""
        with self._pool_lock:
            if self._pool is None:
                if self._closing:
                    raise RuntimeError("the ingest process is stopping")
                self._pool = self._new_pool()
            return self._pool

    def serve_calls(self, calls: Connection) -> None:
        """Run each call the bot sends (`PoolCalls`) in the pool, and send its result back once done."""
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
            with self._pool_lock:  # counted first: the pool is not let go for being idle under this call
                self._calls_in_flight += 1
                self._last_call = time.monotonic()
            try:
                future = self.pool.submit(fn, *args)
            except Exception as exc:  # the pool broke or stops: this call fails, the next gets a new one
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
        """Workers forked from this process (Linux), so a pool started again is ready in milliseconds.

        Spawned workers each started Python and imported the parser again (~0.3 s, bench.idle_memory),
        and their pool's semaphores needed multiprocessing's resource tracker, a process of its own
        (7 MB). Forking is safe here where it is not in the bot: this process was started clean
        (`clean_start`'s reasons are the bot's event loop and sockets), and its other threads only wait
        on its pipes or run SQLite, which the workers never touch; each worker still dies with it.
        """
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        pool = worker_pool(self.workers, method, ignore_ctrl_c=True)
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process with threads; see above for why it is safe here.
            warnings.filterwarnings("ignore", r".*use of fork\(\) may lead to deadlocks", DeprecationWarning)
            pool.submit(os.getpid)  # the workers start now, not at the first post
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
                # looked at every `pool_idle_s`, even with no pool: a call may start one meanwhile
                while not (await asyncio.wait({receiving}, timeout=pool_idle_s))[0]:
                    if self._pool is not None and self._pool_idle(pool_idle_s):  # no ingest, no call for that long
                        self._end_pool(wait=False)  # its workers go until an ingest or a call needs them
                try:
                    request = await receiving
                except EOFError:
                    return  # the bot closed its end: stop
                self.pipe.send(await self._answer(request))
                _give_memory_back()
        finally:
            with self._pool_lock:
                self._closing = True
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
            self._end_pool(wait=False)  # the next file to parse or call starts a new pool
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


def _give_memory_back() -> None:
    """After a request: collect its garbage and hand the freed heap back to the system.

    An ingest of a few hundred posts leaves tens of MB of freed memory in the allocator's heap,
    which the process would otherwise hold while idle between polls (bench.idle_memory). glibc's
    `malloc_trim` returns it; elsewhere (no glibc) only the collection runs.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None
