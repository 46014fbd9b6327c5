"""A push reaching the process without the sync lease, the way an operator runs it (issue 24, point 4).

Two `kiji run` processes (one shard each) on one PostgreSQL store follow one git blog behind a real
`git daemon`, each with its own push webhook port (a load balancer may pick either) and its own
data folder (its own clone, as on two machines). The poll interval is an hour: only a push can
bring a new post in. A signed push sent to the process that does not hold the sync lease is handed
over through the store's cluster events: the holder fetches, ingests and announces it, once. The
same kind of push sent to the holder is synced there, without handing anything over.
"""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from git_bot_world import WEBHOOK_SECRET, post_webhook, pushed_post, signed_github_push
from git_server import BlogRemote, BlogRemotes, GitDaemon
from kiji_cluster import HOLDING, lease_holder_among, ledger_and_lease
from kiji_process import KijiProcess, kiji_env

from bot.emulator import MANAGE_GUILD, DiscordEmulator

WAIT_S = 90.0  # two bots starting, a clone and an ingest on a loaded machine; every wait ends as soon as it holds
HANDED_OVER = "handed the push for"
HOLDER_HEARD = "another process received its push"


def process_env(emu: DiscordEmulator, tmp_path: Path, postgres_url: str, clone_url: str, name: str) -> dict[str, str]:
    """One process's settings: the git blog as its only source, its own data folder, a webhook on a free port."""
    return kiji_env(
        emu,
        tmp_path / "no-posts",
        tmp_path / f"{name}.sqlite3",
        KIJI_POSTS_DIR="",  # the git blog is the only source
        KIJI_SITE_URL="",
        KIJI_SOURCES=f"git+{clone_url}",
        KIJI_DATA_DIR=str(tmp_path / f"{name}-data"),
        KIJI_DATABASE_URL=postgres_url,
        KIJI_POLL_SECONDS="3600",  # no poll comes due during the test: only pushes explain a fetch
        KIJI_WEBHOOK_SECRET=WEBHOOK_SECRET,
        KIJI_WEBHOOK_PORT="0",  # each process picks a free port and logs it
    )


async def webhook_port(process: KijiProcess) -> int:
    line = await process.wait_for_line("push webhook listening on", WAIT_S)
    found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert found, line
    return int(found.group(1))


def titles(emu: DiscordEmulator, channel: int) -> list[str]:
    return [message["embeds"][0]["title"] for message in emu.sent_messages.get(channel, [])]


def push_post(remote: BlogRemote, number: int) -> str:
    """Commit and push a new post to the repository, as the writing pipeline does; its title."""
    path, text, title = pushed_post(number)
    remote.write(path, text)
    remote.commit(f"A new post: {title}")
    return title


async def test_a_push_to_the_process_without_the_lease_is_announced_once_by_the_holder(
    discord_emulator: DiscordEmulator,
    git_daemon: GitDaemon,
    blog_remotes: BlogRemotes,
    tmp_path: Path,
    postgres_url: str,
) -> None:
    emu = discord_emulator
    guild = emu.add_guild("news server", locale="en-US", shard=(1, 2))
    channel = emu.add_channel(guild, "news")
    admin = emu.add_member(guild, name="admin", permissions=MANAGE_GUILD)
    remote = blog_remotes.blog(posts=3)
    clone_url = git_daemon.url(remote)
    processes = [
        await KijiProcess.start(
            "run",
            "--shard-count",
            "2",
            "--shard-ids",
            str(shard),
            env=process_env(emu, tmp_path, postgres_url, clone_url, f"shard{shard}"),
            cwd=tmp_path,
        )
        for shard in (0, 1)
    ]
    holder: KijiProcess | None = None
    try:
        holder = await lease_holder_among(postgres_url, processes, WAIT_S)
        [other] = [p for p in processes if p is not holder]
        ports = {id(p): await webhook_port(p) for p in processes}  # every process serves push webhooks
        for process in processes:
            await process.wait_for_line("logged in as", WAIT_S)
        await holder.wait_for_line("ingested posts: 3 added", WAIT_S)  # the holder's first sync at start
        handle = await emu.slash_command(
            "subscribe", {"channel": channel}, user=admin, guild_id=guild, channel_id=channel, locale="en-US"
        )
        assert "will be announced" in (await handle.response(timeout_s=WAIT_S))["data"]["content"]

        # A push verified by the process without the lease: it hands it over, the holder fetches and announces.
        handed_title = push_post(remote, 1)
        body, signed = signed_github_push(clone_url)
        async with aiohttp.ClientSession() as session:
            assert await post_webhook(session, ports[id(other)], body, {"X-GitHub-Event": "push"}) == 401
            assert await post_webhook(session, ports[id(other)], body, signed) == 202
            handed = await other.wait_for_line(HANDED_OVER, WAIT_S)
            await holder.wait_for_line(HOLDER_HEARD, WAIT_S)
            await emu.wait_for(lambda: titles(emu, channel) != [], WAIT_S, "the handed-over push's announcement")
            assert titles(emu, channel) == [handed_title]

            # The same kind of push, verified by the holder: it syncs at once, nothing is handed over.
            direct_title = push_post(remote, 2)
            seen = len(holder.lines)
            assert await post_webhook(session, ports[id(holder)], body, signed) == 202
            await holder.wait_for_line("ingested posts: 1 added", WAIT_S, after=seen)
            await emu.wait_for(lambda: len(titles(emu, channel)) >= 2, WAIT_S, "the direct push's announcement")
    finally:
        # The other first, so that the lease is never handed over (the next holder would sync at its start).
        exits = [await process.stop() for process in sorted(processes, key=lambda p: p is holder)]
    assert exits == [0, 0], "\n\n".join(p.text for p in processes)
    assert titles(emu, channel) == [handed_title, direct_title]  # each announced exactly once, nothing older
    blog = "127.0.0.1/" + remote.bare.relative_to(git_daemon.root).with_suffix("").as_posix()
    assert handed.endswith(f"{HANDED_OVER} {blog} to the process holding the sync lease"), handed
    assert [line for line in other.lines if HANDED_OVER in line] == [handed]  # one push, handed over once
    assert not any(HANDED_OVER in line for line in holder.lines)
    assert len([line for line in holder.lines if HOLDER_HEARD in line]) == 1  # the direct push stayed there
    assert not any("ingested posts" in line for line in other.lines)  # it never fetched nor ingested
    assert not any(HOLDING in line for line in other.lines)
    states, _lease = await ledger_and_lease(postgres_url)
    assert states == {"sent": 2}
