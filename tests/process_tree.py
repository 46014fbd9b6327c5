"""The ingest process's children as Linux's /proc shows them, for the tests of its idle stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path


def alive(pid: int) -> bool:
    """Running (an exited process that nobody has reaped yet is a zombie: gone for these tests)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not any(line.startswith("State:") and "Z" in line for line in status.splitlines())


def every_child(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(child) for child in (task / "children").read_text().split()}
        except OSError:
            continue
    return found


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def parse_workers(pid: int) -> set[int]:
    """The children of the ingest process `pid` but multiprocessing's resource tracker."""
    return {child for child in every_child(pid) if b"resource_tracker" not in command_line(child)}


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 60, every_s: float = 0.01) -> None:
    """Wait for a state of the process tree, which has no event to wait on: sampled until the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(every_s)
