"""The bot's end of the ingest process's second pipe: calls to run in the child's pool.

`bot.services.ingest_process` starts the child and hands it the other end; the child runs each
call in its pool (`_Child.serve_calls`) and sends its result back. Apart from the ingest requests
because those go one at a time, each with its own write protocol, while many calls are out at once.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")


class InChildPool(Executor):
    """The child's pool as an Executor of this process: what a web source extracts its pages in.

    Pages are extracted in parallel, and the bot's process, which answers members, does not hold
    its interpreter lock for the most CPU-heavy part of a backfill.
    """

    def __init__(self, submit_to_pool: Callable[..., Future[Any]]) -> None:
        self._submit_to_pool = submit_to_pool

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if kwargs:
            raise TypeError("the ingest process's pool takes positional arguments only")
        return self._submit_to_pool(fn, *args)


class PoolCalls:
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

    @property
    def pending(self) -> int:
        """How many calls wait for their answer: the child is not let go for being idle meanwhile."""
        with self._lock:
            return len(self._waiting)

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
