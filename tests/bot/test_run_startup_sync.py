"""Issue 21 point 9: stopping, or losing the ingest process, while `kiji run` reads a large blog at start-up.

A blog of posts that take real work to clean makes the start-up ingest last seconds; `kiji run`
runs as a user starts it, against the loopback Discord.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

from bot_harness import populate
from factories import write_post
from kiji_process import KijiProcess, kiji_env

from bot.emulator import DiscordEmulator

BODY = "本文です。[リンク](https://example.org) を読んでください。" * 600  # ~30 ms of cleaning each
POSTS = 600


def heavy_blog(folder: Path) -> Path:
    folder.mkdir()
    for i in range(POSTS):
        write_post(folder, f"2025-01-{1 + i % 28:02d}-heavy-{i}.md", f"重い記事 {i}", BODY)
    return folder


async def test_sigterm_during_the_start_up_ingest_stops_after_the_batch_in_flight(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    populate(emu)
    db = tmp_path / "kiji.sqlite3"
    kiji = await KijiProcess.start("run", env=kiji_env(emu, heavy_blog(tmp_path / "posts"), db), cwd=tmp_path)
    try:
        # The bot logs in while its blog is still being read (it used to read all of it first).
        await kiji.wait_for_line("logged in as", timeout_s=120)
        assert not any(line for line in kiji.lines if "ingested posts:" in line), kiji.text
    finally:
        code = await kiji.stop(signal.SIGTERM, timeout_s=60)
    assert code == 0, kiji.text
    assert "shut down cleanly" in kiji.text
    assert "was never awaited" not in kiji.text and "Traceback" not in kiji.text, kiji.text
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = raw.execute("SELECT count(*) FROM posts").fetchone()[0]
    assert stored < POSTS, "the whole ingest ran before the bot stopped"

    # The next start reads what the stopped one did not: every post is there in the end.
    again = await KijiProcess.start("run", env=kiji_env(emu, tmp_path / "posts", db), cwd=tmp_path)
    try:
        line = await again.wait_for_line("ingested posts:", timeout_s=180)
    finally:
        assert await again.stop() == 0, again.text
    assert f"{POSTS - stored} added" in line, line


def _pid_in(line: str) -> int:
    return int(line.rsplit("(pid ", 1)[1].rstrip(")"))


async def test_the_ingest_process_killed_twice_at_start_up_is_restarted_while_the_bot_serves(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    _guild, channel, _admin, member = populate(emu)
    db = tmp_path / "kiji.sqlite3"
    # The log names each ingest process it starts, by pid.
    kiji = await KijiProcess.start("run", env=kiji_env(emu, heavy_blog(tmp_path / "posts"), db), cwd=tmp_path)
    try:
        first = _pid_in(await kiji.wait_for_line("started the ingest process", timeout_s=30))
        await kiji.wait_for_line("logged in as", timeout_s=120)
        killed_at = len(kiji.lines)
        os.kill(first, signal.SIGKILL)
        second = _pid_in(await kiji.wait_for_line("started the ingest process", timeout_s=120, after=killed_at))
        assert second != first
        os.kill(second, signal.SIGKILL)
        # The bot is still up and answers while the blog waits for its next try.
        handle = await emu.slash_command("about", {}, user=member, channel_id=channel, locale="en-US")
        assert (await handle.response(timeout_s=30))["data"]
        assert kiji.process.returncode is None, kiji.text
        line = await kiji.wait_for_line("ingested posts:", timeout_s=240)
    finally:
        code = await kiji.stop(signal.SIGTERM, timeout_s=60)
    assert code == 0, kiji.text
    assert f"{POSTS} added" in line or "0 failed" in line, line
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM posts").fetchone()[0] == POSTS
