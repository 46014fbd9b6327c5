"""`kiji run --shard-count N --shard-ids I,J`: gateway shards, in one process or spread over several.

Against the loopback Discord, which gives each shard's session only its guilds ((guild_id >> 22) % N) and
routes each interaction to the session of its guild's shard: a command in a server of either shard is
answered exactly once, and a new post reaches a channel in each shard's server once.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bot_harness import populate
from factories import make_blog, write_post
from kiji_cli import kiji
from kiji_process import KijiProcess, kiji_env

from bot.emulator import DiscordEmulator
from bot.services.ingest import ingest
from bot.settings import Settings
from bot.store import open_store


def two_servers(emu: DiscordEmulator) -> dict[int, tuple[int, int]]:
    """Shard id → (guild, its channel), one server in each of two shards."""
    guild0, channel0, _, _ = populate(emu)
    if (guild0 >> 22) % 2:  # populate's server fell in shard 1: make the other one shard 0's
        other = emu.add_guild("second server", shard=(0, 2))
        return {0: (other, emu.add_channel(other, "general")), 1: (guild0, channel0)}
    other = emu.add_guild("second server", shard=(1, 2))
    return {0: (guild0, channel0), 1: (other, emu.add_channel(other, "general"))}


async def prepared_store(location: str, posts: Path, servers: dict[int, tuple[int, int]]) -> None:
    """The blog read and each server's channel subscribed (`servers`, may be none), before the bots start."""
    settings = Settings(posts_dir=posts, site_dir=None, db_path=posts / "unused", site_url="https://blog.example.org")
    store = await open_store(location)
    try:
        await ingest(store, settings.load_site())
        for guild, channel in servers.values():
            await store.subscribe(guild, channel, "text")
    finally:
        await store.close()


async def answered_once_in_each(emu: DiscordEmulator, servers: dict[int, tuple[int, int]]) -> None:
    for guild, channel in servers.values():
        handle = await emu.slash_command("about", guild_id=guild, channel_id=channel, locale="en-US", timeout_s=60)
        assert (await handle.response(timeout_s=30))["type"] == 4
        assert handle.record.callback_attempts == 1


async def test_two_shards_in_one_process_answer_and_announce_in_both(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    servers = two_servers(emu)
    posts = make_blog(tmp_path / "posts")
    db = tmp_path / "kiji.sqlite3"
    await prepared_store(str(db), posts, servers)
    env = kiji_env(emu, posts, db, KIJI_POLL_SECONDS="1")
    kiji = await KijiProcess.start("run", "--shard-count", "2", env=env, cwd=tmp_path)
    try:
        await kiji.wait_for_line("logged in as", timeout_s=90)
        assert sorted(emu.connected_shards()) == [(0, 2), (1, 2)]
        assert "running gateway shard(s) 0,1 of 2" in kiji.text
        await answered_once_in_each(emu, servers)

        write_post(posts, "2025-08-01-sharded.md", "シャード", "両方のサーバーに届く記事です。")
        channels = [channel for _, channel in servers.values()]
        await emu.wait_for(lambda: all(emu.sent_messages.get(c) for c in channels), 60, "the post in both servers")
    finally:
        assert await kiji.stop() == 0, kiji.text
    for channel in channels:
        assert [m["embeds"][0]["title"] for m in emu.sent_messages[channel]] == ["シャード"]


async def test_two_processes_one_shard_each_on_postgresql(
    discord_emulator: DiscordEmulator, tmp_path: Path, postgres_url: str
) -> None:
    emu = discord_emulator
    servers = two_servers(emu)
    posts = make_blog(tmp_path / "posts")
    await prepared_store(postgres_url, posts, {})  # read once here: two first ingests at once are point 4's
    env = kiji_env(emu, posts, tmp_path / "unused.sqlite3", KIJI_DATABASE_URL=postgres_url, KIJI_POLL_SECONDS="3600")
    processes = [
        await KijiProcess.start("run", "--shard-count", "2", "--shard-ids", str(shard), env=env, cwd=tmp_path)
        for shard in (0, 1)
    ]
    try:
        for process in processes:
            await process.wait_for_line("logged in as", timeout_s=90)
        assert sorted(emu.connected_shards()) == [(0, 2), (1, 2)]
        assert "running gateway shard(s) 1 of 2" in processes[1].text
        await answered_once_in_each(emu, servers)
    finally:
        codes = [await process.stop() for process in processes]
    assert codes == [0, 0], "\n\n".join(process.text for process in processes)
    password = urlsplit(postgres_url).password
    assert password and all(password not in process.text for process in processes)


async def test_a_process_announces_only_in_its_own_shards_servers(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    """The other shard's server is another process's to serve: not announced here, and not paused as gone."""
    emu = discord_emulator
    servers = two_servers(emu)
    posts = make_blog(tmp_path / "posts")
    db = tmp_path / "kiji.sqlite3"
    await prepared_store(str(db), posts, servers)
    env = kiji_env(emu, posts, db, KIJI_POLL_SECONDS="1")
    kiji = await KijiProcess.start("run", "--shard-count", "2", "--shard-ids", "0", env=env, cwd=tmp_path)
    (_, mine), (_, theirs) = servers[0], servers[1]
    try:
        await kiji.wait_for_line("logged in as", timeout_s=90)
        assert emu.connected_shards() == [(0, 2)]
        write_post(posts, "2025-08-01-sharded.md", "シャード", "このプロセスのサーバーにだけ届く記事です。")
        await emu.wait_for(lambda: bool(emu.sent_messages.get(mine)), 60, "the post in shard 0's server")
    finally:
        assert await kiji.stop() == 0, kiji.text  # a clean stop finishes the round in flight
    assert not emu.sent_messages.get(theirs)
    store = await open_store(str(db))
    try:
        states = {d.channel_id: d.state for d in await store.deliveries()}
        paused = {s.channel_id: s.paused_reason for s in await store.subscriptions()}
    finally:
        await store.close()
    assert states == {mine: "sent", theirs: "pending"}
    assert paused == {mine: None, theirs: None}


@pytest.mark.parametrize(
    ("flags", "env", "said"),
    [
        (["--shard-ids", "0"], {}, "KIJI_SHARD_IDS='0' needs KIJI_SHARD_COUNT"),
        (["--shard-count", "2", "--shard-ids", "2"], {}, "shard 2 is not between 0 and 1 (KIJI_SHARD_COUNT=2)"),
        (["--shard-count", "2", "--shard-ids", "0,x"], {}, "KIJI_SHARD_IDS='0,x' is not a list of shard numbers"),
        ([], {"KIJI_SHARD_COUNT": "2", "KIJI_SHARD_IDS": "1,1"}, "KIJI_SHARD_IDS='1,1' names a shard twice"),
        ([], {"KIJI_SHARD_COUNT": "0"}, "KIJI_SHARD_COUNT='0' must be at least 1"),
    ],
)
def test_shard_settings_that_cannot_work_are_named(
    tmp_path: Path, flags: list[str], env: dict[str, str], said: str
) -> None:
    done = kiji("run", *flags, env={"DISCORD_TOKEN": "x", **env}, cwd=tmp_path)
    assert done.returncode != 0
    assert said in done.stderr, done.stderr
