"""Exactly once through a hard crash: `kiji run` killed with SIGKILL mid fan-out, then restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from bot_harness import populate
from factories import make_blog, write_post

from bot.emulator import DiscordEmulator
from bot.services.ingest import ingest
from bot.settings import Settings
from bot.store import Store

CHANNELS = 50

CHECKOUT = Path(__file__).resolve().parents[2]


async def start_kiji(env: dict[str, str], cwd: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as handle:  # a file, not a pipe: logging must never block the bot
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "-v", "run", cwd=cwd, env=env, stderr=handle
        )


async def test_sigkill_mid_fanout_then_restart_delivers_each_channel_once(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    guild, *_ = populate(emu)
    channels = [emu.add_channel(guild, f"news-{i:02d}") for i in range(CHANNELS)]
    posts = make_blog(tmp_path / "posts", tagged_ai=2)
    db = tmp_path / "kiji.sqlite3"
    settings = Settings(posts_dir=posts, site_dir=None, db_path=db, site_url="https://blog.example.org")

    store = await Store.open(db)
    try:
        await ingest(store, settings.load_site())
        for channel in channels:
            await store.subscribe(guild, channel, "text")
    finally:
        await store.close()
    write_post(posts, "2025-08-01-big-news.md", "大ニュース", "全チャンネルに届くべき記事です。", tags="[AI]")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env["PYTHONPATH"] = str(CHECKOUT)  # this checkout's code, not an installed copy
    env.update(
        DISCORD_TOKEN=emu.token,
        DISCORD_API_BASE=emu.api_base,
        KIJI_POSTS_DIR=str(posts),
        KIJI_SITE_URL="https://blog.example.org",
        KIJI_DB_PATH=str(db),
        KIJI_POLL_SECONDS="3600",
    )
    log = tmp_path / "kiji.log"

    def delivered() -> int:
        return sum(1 for channel in channels if emu.sent_messages.get(channel))

    first = await start_kiji(env, tmp_path, log)
    try:
        await emu.wait_for(lambda: delivered() >= 10, 60, "the fan-out to start")
    finally:
        first.kill()  # SIGKILL: no shutdown, no rollback handler, sends possibly in flight
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    assert delivered() < CHANNELS, "the fan-out finished before the kill; the test proved nothing"

    second = await start_kiji(env, tmp_path, log)
    try:
        await emu.wait_for(lambda: delivered() == CHANNELS, 60, "every channel to get the post")
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    assert second.returncode == 0, log.read_text(errors="replace")[-3000:]

    for channel in channels:
        titles = [m["embeds"][0]["title"] for m in emu.sent_messages[channel]]
        assert titles == ["大ニュース"], (channel, titles)
    with sqlite3.connect(db) as raw:
        states = raw.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()
    assert dict(states) == {"sent": CHANNELS}
