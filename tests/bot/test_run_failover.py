"""Failover of the sync lease, the way an operator runs it: two `kiji run` processes, one shard each, one PostgreSQL.

The first process to start holds the sync lease: it polls the blog and announces in the servers of
both shards (another shard's channels through REST). It is SIGKILLed in the middle of a fan-out to
51 channels: its own shard's channels are out, one of them sent but not yet recorded (the
emulator holds the response), the other shard's are waiting on the emulator for their server's
REST read. The other process takes the lease once it expires and finishes the fan-out from the
ledger: every channel has the post exactly once (the unrecorded one is re-sent with its nonce,
which Discord answers with the message already made).
"""

from __future__ import annotations

import signal
from pathlib import Path

from factories import make_blog, write_post
from kiji_cluster import ledger_and_lease
from kiji_process import KijiProcess, kiji_env

from bot.emulator import DiscordEmulator
from bot.services.ingest import ingest
from bot.settings import Settings
from bot.store import open_store

CHANNELS_PER_SHARD = {0: 26, 1: 25}  # 51 across three servers in each shard
SERVERS_PER_SHARD = 3


def servers_and_channels(emu: DiscordEmulator) -> dict[int, dict[int, list[int]]]:
    """Shard → server → its channels, made before the bots connect so they arrive in GUILD_CREATE."""
    made: dict[int, dict[int, list[int]]] = {}
    for shard, count in CHANNELS_PER_SHARD.items():
        guilds = [emu.add_guild(f"shard {shard} server {i}", shard=(shard, 2)) for i in range(SERVERS_PER_SHARD)]
        made[shard] = {guild: [] for guild in guilds}
        for n in range(count):
            guild = guilds[n % SERVERS_PER_SHARD]
            made[shard][guild].append(emu.add_channel(guild, f"news-{n}"))
    return made


async def prepared_store(url: str, posts: Path, layout: dict[int, dict[int, list[int]]]) -> None:
    settings = Settings(posts_dir=posts, site_dir=None, db_path=posts / "unused", site_url="https://blog.example.org")
    store = await open_store(url)
    try:
        await ingest(store, settings.load_site())
        for servers in layout.values():
            for guild, channels in servers.items():
                for channel in channels:
                    await store.subscribe(guild, channel, "text")
    finally:
        await store.close()


async def answered_once(emu: DiscordEmulator, guild: int, channel: int) -> None:
    handle = await emu.slash_command("about", guild_id=guild, channel_id=channel, locale="en-US", timeout_s=60)
    assert (await handle.response(timeout_s=30))["type"] == 4
    assert handle.record.callback_attempts == 1


async def test_the_other_process_finishes_the_fan_out_when_the_lease_holder_is_killed(
    discord_emulator: DiscordEmulator, tmp_path: Path, postgres_url: str
) -> None:
    emu = discord_emulator
    layout = servers_and_channels(emu)
    mine = [c for channels in layout[0].values() for c in channels]  # the first process's shard
    theirs = [c for channels in layout[1].values() for c in channels]
    posts = make_blog(tmp_path / "posts")
    await prepared_store(postgres_url, posts, layout)
    env = kiji_env(
        emu,
        posts,
        tmp_path / "unused.sqlite3",
        KIJI_DATABASE_URL=postgres_url,
        KIJI_POLL_SECONDS="1",
        KIJI_LEASE_SECONDS="2",
    )
    first = await KijiProcess.start("run", "--shard-count", "2", "--shard-ids", "0", env=env, cwd=tmp_path)
    second: KijiProcess | None = None
    holds = []
    try:
        await first.wait_for_line("holding the sync lease (term 1)", timeout_s=90)
        second = await KijiProcess.start("run", "--shard-count", "2", "--shard-ids", "1", env=env, cwd=tmp_path)
        for process in (first, second):
            await process.wait_for_line("logged in as", timeout_s=90)
        assert sorted(emu.connected_shards()) == [(0, 2), (1, 2)]
        for shard in (0, 1):  # every process answers the commands of its own shard's servers, once
            guild, channels = next(iter(layout[shard].items()))
            await answered_once(emu, guild, channels[0])

        # The first process's fan-out stops where the emulator holds it: one of its own channels sent
        # but unrecorded, the other shard's servers mid-read.
        unrecorded = mine[len(mine) // 2]
        holds = [emu.hold_next("POST", rf"^/channels/{unrecorded}/messages$")]
        holds += [emu.hold_next("GET", rf"^/guilds/{guild}$") for guild in layout[1]]
        write_post(posts, "2025-08-01-failover.md", "フェイルオーバー", "送信役が倒れても一度だけ届く記事です。")
        await emu.wait_for(lambda: all(hold.reached.is_set() for hold in holds), 90, "the fan-out held mid-way")
        await emu.wait_for(lambda: all(emu.sent_messages.get(c) for c in mine), 60, "the first shard's channels")
        first.process.send_signal(signal.SIGKILL)
        assert await first.finish() == -signal.SIGKILL
        assert not any(emu.sent_messages.get(c) for c in theirs)
    finally:
        for hold in holds:
            hold.release.set()
        if first.process.returncode is None:
            first.process.kill()
            await first.finish()
    assert second is not None
    try:
        await second.wait_for_line("holding the sync lease (term 2)", timeout_s=60)
        await emu.wait_for(lambda: all(emu.sent_messages.get(c) for c in theirs), 60, "the second shard's channels")
        await emu.wait_for(lambda: emu.nonce_duplicates >= 1, 60, "the unrecorded send retried with its nonce")
    finally:
        assert await second.stop() == 0, second.text
    for channel in mine + theirs:
        assert [m["embeds"][0]["title"] for m in emu.sent_messages[channel]] == ["フェイルオーバー"], channel
    states, lease = await ledger_and_lease(postgres_url)
    assert states == {"sent": 51}
    assert lease is not None and lease[1:] == (0.0, 2)  # the second's clean stop released its term at once
    assert "lost the sync lease" not in second.text
