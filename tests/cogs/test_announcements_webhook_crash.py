"""Exactly once through webhooks, which take no nonce: `kiji run` killed with SIGKILL after Discord made the
message and before the ledger recorded it, then restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

from factories import make_blog, write_post
from test_announcements_crash import CHECKOUT, start_kiji

from bot.emulator import DiscordEmulator
from bot.emulator.records import BOT_DEFAULT, MANAGE_WEBHOOKS
from bot.models import Placement
from bot.services.ingest import ingest
from bot.settings import Settings
from bot.store import Store


async def test_sigkill_between_the_webhook_send_and_the_ledger_then_restart_posts_once(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    guild = emu.add_guild("Blog server", bot_permissions=BOT_DEFAULT | MANAGE_WEBHOOKS)
    channel = emu.add_channel(guild, "news")
    webhook = emu.add_webhook(channel, "Kiji", by_bot=True)
    posts = make_blog(tmp_path / "posts", tagged_ai=2)
    db = tmp_path / "kiji.sqlite3"
    settings = Settings(posts_dir=posts, site_dir=None, db_path=db, site_url="https://blog.example.org")
    store = await Store.open(db)
    try:
        await ingest(store, settings.load_site())
        # A text template without the URL: the look-up must still recognise the message (by its text).
        await store.subscribe(
            guild,
            channel,
            "text",
            layout="text",
            template="新着：{title}",
            placement=Placement("webhook", int(webhook["id"])),
        )
    finally:
        await store.close()
    write_post(posts, "2025-08-01-big-news.md", "大ニュース", "一度だけ届くべき記事です。", tags="[AI]")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env["PYTHONPATH"] = str(CHECKOUT)
    env.update(
        DISCORD_TOKEN=emu.token,
        DISCORD_API_BASE=emu.api_base,
        KIJI_POSTS_DIR=str(posts),
        KIJI_SITE_URL="https://blog.example.org",
        KIJI_DB_PATH=str(db),
        KIJI_POLL_SECONDS="3600",
    )
    log = tmp_path / "kiji.log"

    # Discord makes the message; the answer never reaches Kiji, which dies before recording it.
    held = emu.hold_next("POST", rf"^/webhooks/{webhook['id']}/")
    first = await start_kiji(env, tmp_path, log)
    try:
        await asyncio.wait_for(held.reached.wait(), 60)
    finally:
        first.kill()
        await first.wait()
        held.release.set()
    assert first.returncode == -signal.SIGKILL
    [made] = emu.sent_messages[channel]
    with sqlite3.connect(db) as raw:
        pending = raw.execute(
            "SELECT d.state FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE s.channel_id = ?",
            (channel,),
        ).fetchall()
    assert pending == [("pending",)], "the ledger recorded the send; the test proved nothing"

    looked_up = len(emu.requests)

    def history_read_or_resent() -> bool:
        read = any(r.method == "GET" and r.path == f"/channels/{channel}/messages" for r in emu.requests[looked_up:])
        return read or len(emu.sent_messages[channel]) > 1

    second = await start_kiji(env, tmp_path, log)
    try:
        await emu.wait_for(history_read_or_resent, 60, "the restarted Kiji to deal with the pending delivery")
    finally:
        second.send_signal(signal.SIGTERM)  # the delivery in flight finishes and is recorded first
        await asyncio.wait_for(second.wait(), 30)
    assert second.returncode == 0, log.read_text(errors="replace")[-3000:]

    assert emu.sent_messages[channel] == [made], [m["content"] for m in emu.sent_messages[channel]]
    assert made["content"] == "新着：大ニュース" and made["webhook_id"] == webhook["id"]
    with sqlite3.connect(db) as raw:
        rows = raw.execute(
            "SELECT d.state, d.message_id FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
            "WHERE s.channel_id = ?",
            (channel,),
        ).fetchall()
    assert rows == [("sent", int(made["id"]))]
    assert webhook["token"] not in db.read_bytes().decode("latin-1")
