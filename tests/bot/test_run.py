"""`kiji run` as a user starts it: a real process against the loopback Discord, stopped by a signal."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from bot_harness import populate
from discord_emulator.server import DiscordEmulator
from factories import make_blog

REPO = Path(__file__).resolve().parents[2]

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_run_serves_then_shuts_down_cleanly(
    discord_emulator: DiscordEmulator, tmp_path: Path, signum: signal.Signals
) -> None:
    emu = discord_emulator
    populate(emu)
    db = tmp_path / "kiji.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env["PYTHONPATH"] = str(CHECKOUT)  # this checkout's code, not an installed copy
    env.update(
        DISCORD_TOKEN=emu.token,
        DISCORD_API_BASE=emu.api_base,
        KIJI_POSTS_DIR=str(make_blog(tmp_path / "posts")),
        KIJI_SITE_URL="https://blog.example.org",
        KIJI_DB_PATH=str(db),
    )
    log_path = tmp_path / "kiji.log"
    with log_path.open("wb") as log_file:  # a file, not a pipe: debug logging must never block the bot
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "-v", "run", cwd=tmp_path, env=env, stderr=log_file
        )
        try:
            await emu.wait_until_ready(timeout_s=60)
            handle = await emu.slash_command("about", locale="en-US", timeout_s=30)
            assert (await handle.response())["type"] == 4
        finally:
            process.send_signal(signum)
            await asyncio.wait_for(process.wait(), timeout=30)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert process.returncode == 0, log
    assert emu.token not in log  # the token never reaches a log line
    assert "shutting down" in log
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("SELECT count(*) FROM posts").fetchone()[0] == 27
