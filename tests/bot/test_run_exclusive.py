"""One `kiji run` per SQLite file: a second one would answer every interaction and announce every post again.

Two processes on one file, as a user who starts the bot twice (a forgotten terminal, a second unit) would
have them, against the loopback Discord: both identify, both get each interaction and both answer it.
The second `kiji run` must refuse to start and say to use PostgreSQL for several processes.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from bot_harness import populate
from factories import make_blog
from kiji_process import KijiProcess, kiji_env

from bot.emulator import DiscordEmulator


async def serving_or_ended(kiji: KijiProcess) -> None:
    """Until `kiji` has logged in to Discord or has ended, whichever comes first."""
    logged_in = asyncio.create_task(kiji.wait_for_line("logged in as"))
    ended = asyncio.create_task(kiji.process.wait())
    try:
        await asyncio.wait({logged_in, ended}, timeout=90, return_when=asyncio.FIRST_COMPLETED)
    finally:
        logged_in.cancel()
        ended.cancel()


async def test_a_second_run_on_the_same_file_refuses_instead_of_answering_twice(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    populate(emu)
    db = tmp_path / "kiji.sqlite3"
    env = kiji_env(emu, make_blog(tmp_path / "posts"), db, KIJI_POLL_SECONDS="3600")
    first = await KijiProcess.start("run", env=env, cwd=tmp_path)
    second: KijiProcess | None = None
    try:
        await first.wait_for_line("logged in as", timeout_s=90)
        second = await KijiProcess.start("run", env=env, cwd=tmp_path)
        await serving_or_ended(second)

        handle = await emu.slash_command("about", locale="en-US", timeout_s=30)
        await handle.response(timeout_s=30)
        if second.process.returncode is None:  # both serve: wait for the other one's answer too
            await emu.wait_for(lambda: handle.record.callback_attempts >= 2, 30, "the second process's answer")
        assert handle.record.callback_attempts == 1, "two `kiji run` on one file answered the same interaction"

        code = await second.finish(timeout_s=30)
        assert code != 0
        refusal = second.text
        assert f"another `kiji run` is already serving {db}" in refusal, refusal
        assert "KIJI_DATABASE_URL" in refusal and "postgresql://" in refusal, refusal
        assert emu.token not in refusal

        # Reading and ingesting the same file stay allowed while the bot runs.
        ingest = await KijiProcess.start("ingest", env=env, cwd=tmp_path)
        assert await ingest.finish() == 0, ingest.text
        tags = await KijiProcess.start("tags", env=env, cwd=tmp_path)
        assert await tags.finish() == 0, tags.text
    finally:
        if second is not None and second.process.returncode is None:
            await second.stop()
        first.process.kill()  # SIGKILL: no clean-up of ours runs; the kernel lets the lock go
        await first.finish()
    assert first.process.returncode == -signal.SIGKILL

    after_kill = await KijiProcess.start("run", env=env, cwd=tmp_path)
    try:
        await after_kill.wait_for_line("logged in as", timeout_s=90)
    finally:
        assert await after_kill.stop() == 0, after_kill.text
