"""`kiji run` as a real subprocess against the loopback Discord, its log read line by line as it comes.

The log is a pipe drained continuously by a reader task, so the bot never blocks on it, and a
test waits for the line it expects (a state change), never for a time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.emulator import DiscordEmulator

REPO = Path(__file__).resolve().parents[1]


def kiji_env(emu: DiscordEmulator, posts_dir: Path, db: Path, **extra: str) -> dict[str, str]:
    """The environment a user would set, minus anything of the developer's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env.update(
        PYTHONPATH=str(REPO),
        DISCORD_TOKEN=emu.token,
        DISCORD_API_BASE=emu.api_base,
        KIJI_POSTS_DIR=str(posts_dir),
        KIJI_SITE_URL="https://blog.example.org",
        KIJI_DB_PATH=str(db),
    )
    env.update(extra)
    return env


class KijiProcess:
    """One `kiji ...` process; `lines` is its stderr so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *args: str, env: dict[str, str], cwd: Path) -> KijiProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", *args, cwd=cwd, env=env, stderr=asyncio.subprocess.PIPE
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            async with self._changed:
                self.lines.append(line.decode("utf-8", errors="replace").rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for_line(self, needle: str, timeout_s: float = 60.0, *, after: int = 0) -> str:
        """The first log line containing `needle` (among the lines from index `after` on), once it has been written."""

        def found() -> str | None:
            return next((line for line in self.lines[after:] if needle in line), None)

        async def wait() -> str:
            async with self._changed:
                while (line := found()) is None:
                    if self._reader.done():
                        raise AssertionError(f"kiji ended without logging {needle!r}:\n{self.text}")
                    await self._changed.wait()
                return line

        try:
            return await asyncio.wait_for(wait(), timeout=timeout_s)
        except TimeoutError:
            raise AssertionError(f"no log line with {needle!r} within {timeout_s}s:\n{self.text}") from None

    async def finish(self, timeout_s: float = 120.0) -> int:
        """Wait for the process to end by itself and its log to be read whole."""
        await asyncio.wait_for(self.process.wait(), timeout=timeout_s)
        await self._reader
        assert self.process.returncode is not None
        return self.process.returncode

    async def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send `signum` and wait, at most `timeout_s`, for the process to exit; kill it if it does not."""
        if self.process.returncode is None:
            self.process.send_signal(signum)
        try:
            return await self.finish(timeout_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(
                f"kiji did not exit within {timeout_s}s of {signal.Signals(signum).name}:\n{self.text}"
            ) from None
