"""Issue 14 item 14: a `kiji ingest` killed with SIGKILL leaves no parse workers behind."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from factories import write_post
from process_tree import command_line

from bot.services.ingest import POOL_THRESHOLD

REPO = Path(__file__).resolve().parents[3]
BODY = "本文です。[リンク](https://example.org) を読んでください。" * 600  # ~30 ms of cleaning each
POSTS = POOL_THRESHOLD * 3  # enough for the pool, and for seconds of work on two cores

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"), reason="reads /proc, waits on pidfds"
)


def descendants(root: int) -> set[int]:
    """Every live process below `root`, from /proc (children of children too)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_for_exits(pids: set[int], timeout_s: float) -> set[int]:
    """Wait on the processes' pidfds (readable once each exits); return those still alive at the deadline."""
    fds: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # already gone
            fds[os.pidfd_open(pid)] = pid
    deadline = time.monotonic() + timeout_s
    try:
        while fds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select(list(fds), [], [], remaining)
            for fd in ready:
                os.close(fd)
                del fds[fd]
        return set(fds.values())
    finally:
        for fd in fds:
            os.close(fd)


def test_sigkill_of_kiji_ingest_takes_its_pool_workers_with_it(tmp_path: Path) -> None:
    blog = tmp_path / "blog"
    blog.mkdir()
    for i in range(POSTS):
        write_post(blog, f"2025-04-01-post-{i:04d}.md", f"記事{i}", BODY)
    env = {**os.environ, "KIJI_POSTS_DIR": str(blog), "KIJI_DB_PATH": str(tmp_path / "kiji.db")}
    kiji = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "ingest"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    kiji_exit = os.pidfd_open(kiji.pid)
    try:
        # Find the pool (forkserver and workers) while it works: each look waits on kiji's own
        # pidfd for up to 50 ms, so an ingest that ends early ends the wait at once.
        workers: set[int] = set()
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            exited, _, _ = select.select([kiji_exit], [], [], 0.05)
            assert not exited, f"kiji ingest ended before its pool was seen: {kiji.stderr.read().decode()[-2000:]}"
            workers = {pid for pid in descendants(kiji.pid) if b"forkserver" in command_line(pid)}
        assert len(workers) >= 2, "no pool workers appeared"  # the forkserver and at least one worker
        pool = descendants(kiji.pid)
        kiji.send_signal(signal.SIGKILL)
        kiji.wait(30)
    finally:
        os.close(kiji_exit)
        if kiji.poll() is None:
            kiji.kill()
            kiji.wait()
        if kiji.stderr:
            kiji.stderr.close()
    assert kiji.returncode == -signal.SIGKILL
    left = wait_for_exits(pool, timeout_s=30)
    assert not left, f"still alive after their parent was killed: {sorted(left)}"


RUNNING_BOT = """
import asyncio, sys
from bot.services.ingest_process import IngestProcess
from bot.store import Store

async def main():
    ingester = IngestProcess(await Store.open(sys.argv[1]), workers=2)
    worker = await ingester.parse_worker_pid()  # the ingest process and its pool are up
    print(ingester.pid, worker, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_sigkill_of_the_bot_takes_its_ingest_process_and_its_workers_with_it(tmp_path: Path) -> None:
    bot = subprocess.Popen(
        [sys.executable, "-c", RUNNING_BOT, str(tmp_path / "kiji.db")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert bot.stdout is not None
        line = bot.stdout.readline().decode()
        assert line, f"the bot ended before its ingest process was up: {bot.stderr.read().decode()[-2000:]}"
        ingester, worker = map(int, line.split())
        below = descendants(bot.pid)
        assert {ingester, worker} <= below
        bot.send_signal(signal.SIGKILL)
        bot.wait(30)
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        for stream in (bot.stdout, bot.stderr):
            if stream:
                stream.close()
    assert bot.returncode == -signal.SIGKILL
    left = wait_for_exits(below, timeout_s=30)
    assert not left, f"still alive after the bot was killed: {sorted(left)}"
