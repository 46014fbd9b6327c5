"""Digests exactly once through a hard crash: `kiji run` killed with SIGKILL mid-digests, then restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bot_harness import populate
from factories import make_blog, write_post
from test_announcements_crash import CHECKOUT, start_kiji

from bot.emulator import DiscordEmulator
from bot.services.ingest import ingest
from bot.settings import Settings
from bot.store import Store

CHANNELS = 30
POSTS = 40


async def test_sigkill_mid_digests_then_restart_sends_each_part_once(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    guild, *_ = populate(emu)
    channels = [emu.add_channel(guild, f"digest-{i:02d}") for i in range(CHANNELS)]
    posts = make_blog(tmp_path / "posts", tagged_ai=0)
    for i in range(POSTS):  # long titles and descriptions: each digest needs several messages
        description = json.dumps(f"第{i}号の説明。" + "要点" * 80, ensure_ascii=False)
        title = f"長い記事{i:02d}" + "題" * 140
        write_post(posts, f"2025-07-{1 + i % 28:02d}-long-{i:02d}.md", title, "本文。", description=description)
    db = tmp_path / "kiji.sqlite3"
    settings = Settings(posts_dir=posts, site_dir=None, db_path=db, site_url="https://blog.example.org")
    hour = datetime.now(UTC).hour  # the period that ended at this hour today is due at once

    store = await Store.open(db)
    try:
        two_days_ago = time.time() - 2 * 86400
        for channel in channels:
            await store.subscribe(guild, channel, "text", now=two_days_ago, timezone="UTC", digest=("daily", hour, 0))
        await ingest(store, settings.load_site())
    finally:
        await store.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env["PYTHONPATH"] = str(CHECKOUT)
    env.update(
        DISCORD_TOKEN=emu.token,
        DISCORD_API_BASE=emu.api_base,
        KIJI_POSTS_DIR=str(posts),
        KIJI_SITE_URL="https://blog.example.org",
        KIJI_DB_PATH=str(db),
        KIJI_POLL_SECONDS="3600",
        KIJI_MAX_BURST="100",
    )
    log = tmp_path / "kiji.log"

    def sent() -> int:
        return sum(len(emu.sent_messages.get(channel, [])) for channel in channels)

    first = await start_kiji(env, tmp_path, log)
    try:
        await emu.wait_for(lambda: sent() >= 20, 90, "the digests to start going out")
    finally:
        first.kill()  # SIGKILL: no shutdown; a part may be in Discord and not yet in the ledger
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as raw:
        parts = {
            channel: len(json.loads(parts_json))
            for channel, parts_json in raw.execute(
                "SELECT s.channel_id, g.parts FROM digests g JOIN subscriptions s ON s.id = g.subscription_id"
            )
        }
    per_digest = max(parts.values())  # every channel's digest lists the same posts
    assert per_digest >= 2 and set(parts.values()) == {per_digest}, parts  # several messages each
    assert sent() < sum(parts.values()) or len(parts) < CHANNELS, "every digest went out before the kill"

    second = await start_kiji(env, tmp_path, log)
    try:
        await emu.wait_for(lambda: sent() >= CHANNELS * per_digest, 90, "every channel's digest")
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    assert second.returncode == 0, log.read_text(errors="replace")[-3000:]

    with sqlite3.connect(db) as raw:
        rows = raw.execute(
            "SELECT s.channel_id, g.parts, g.message_ids, g.state FROM digests g "
            "JOIN subscriptions s ON s.id = g.subscription_id"
        ).fetchall()
        deliveries = dict(raw.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
    assert len(rows) == CHANNELS  # one digest per channel for the period, across both runs
    for channel, parts_json, ids_json, state in rows:
        got = emu.sent_messages[channel]
        assert state == "sent" and len(got) == len(json.loads(parts_json)), (channel, len(got))
        assert [int(m["id"]) for m in got] == json.loads(ids_json)
        listed = Counter(line for m in got for e in m["embeds"] for line in e["description"].split("\n\n"))
        assert max(listed.values()) == 1  # no post listed twice
        assert sum(1 for line in listed if "長い記事" in line) == POSTS
    assert deliveries == {"sent": CHANNELS * (POSTS + 4)}
