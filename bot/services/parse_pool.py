"""The parse process pool: workers started clean that die with the process they parse for.

Ingest fans parsing and cleaning out over this pool (see `bot.services.ingest`); the running bot's
ingest process keeps one while it has work, so a slow or hostile post holds up only its worker. The
ingest process itself, a clean Python started afresh (`bot.services.ingest_process`), dies with the
bot the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

# What a worker runs: imported by a forkserver (and by the ingest process, whose workers are forked from
# it) before any worker starts, so a worker's first post does not pay for the imports.
PARSER_MODULES = ("bot.services.ingest", "bot.content.cleaning", "bot.sources.post_reader")


def clean_start(method: str | None = None) -> multiprocessing.context.BaseContext:
    """How Kiji starts its processes: clean, never forked from a process with threads and sockets.

    Forked workers would inherit the bot's event loop, threads and open sockets, and keep the
    pool's pipes open so that nothing ever tells them their parent is gone. A forkserver (or
    spawn) starts them clean, and each one watches its parent itself (`die_with_parent`).
    `method="spawn"` leaves no forkserver behind: for processes started seldom, whose starter
    would otherwise keep a forkserver in memory for nothing between them.
    """
    if method is None:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(list(PARSER_MODULES))  # processes start with ingest already imported
    return context


def worker_pool(count: int, method: str | None = None, *, ignore_ctrl_c: bool = False) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process, even when it is killed with SIGKILL.

    ``method``: see `clean_start`; ``ignore_ctrl_c``: see `die_with_parent`.
    """
    return ProcessPoolExecutor(
        count, mp_context=clean_start(method), initializer=die_with_parent, initargs=(os.getpid(), ignore_ctrl_c)
    )


_PR_SET_PDEATHSIG = 1
# Pool workers yield the CPU to the process they parse for: on two cores, two busy workers at the
# same priority as the bot doubled its reply times during an ingest (bench.latency_during_ingest).
WORKER_NICENESS = 10


def die_with_parent(ingest_pid: int, ignore_ctrl_c: bool = False) -> None:
    """Worker start-up: exit as soon as the process that started the pool is gone.

    ``ignore_ctrl_c``: a terminal's Ctrl-C reaches every process of its group, and each child
    interrupted mid-wait printed its traceback (~70 lines at the end of `kiji demo`). The bot's
    ingest process and its workers ignore it: the bot stops them as it closes.

    The parent is the forkserver or, under spawn, the ingesting process itself. On Linux the
    kernel kills the worker when its parent dies (PR_SET_PDEATHSIG), and a thread waits on a
    pidfd of the ingesting process: the forkserver does not always notice that its client was
    killed, and would keep its workers parsing for nobody. When that thread fires, the worker
    also ends a forkserver that served only the dead process. Elsewhere, a thread notices the
    worker was re-parented.
    """
    if ignore_ctrl_c:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        # parsing waits; the bot's replies to its users do not (set, not added: a worker of the
        # ingest process would otherwise sit at twice the niceness of the process it works for)
        os.setpriority(os.PRIO_PROCESS, 0, max(WORKER_NICENESS, os.getpriority(os.PRIO_PROCESS, 0)))
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    try:
        ingest_exit: int | None = os.pidfd_open(ingest_pid) if hasattr(os, "pidfd_open") else None
    except ProcessLookupError:
        os._exit(1)  # gone before this worker could watch it
    except OSError:
        ingest_exit = None

    def watch_pidfd(fd: int) -> None:
        select.select([fd], [], [])  # readable once the ingesting process has exited
        if parent != ingest_pid:
            with contextlib.suppress(OSError):
                os.kill(parent, signal.SIGKILL)  # the forkserver of the dead process
        os._exit(1)

    def watch_parent() -> None:
        try:
            os.kill(ingest_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    if ingest_exit is not None:
        threading.Thread(target=watch_pidfd, args=(ingest_exit,), name="kiji-parent-watch", daemon=True).start()
    else:
        threading.Thread(target=watch_parent, name="kiji-parent-watch", daemon=True).start()
