"""A push reaching the process without the sync lease, the way an operator runs it (issue 24, point 4).

Two `kiji run` processes (one shard each) on one PostgreSQL store follow one git blog behind a real
`git daemon`, each with its own push webhook port (a load balancer may pick either) and its own
data folder (its own clone, as on two machines). The poll interval is an hour: only a push can
bring a new post in. A signed push sent to the process that does not hold the sync lease is handed
over through the store's cluster events: the holder fetches, ingests and announces it, once. The
same kind of push sent to the holder is synced there, without handing anything over. And when the
lease moves while both keep running (the holder paused past its expiry), the former holder stops
syncing but keeps serving its webhook: a push it verifies goes to the new holder.
"""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
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
LEASE_S = "3"  # the test that moves the lease pauses the holder past it


def process_env(
    emu: DiscordEmulator, tmp_path: Path, postgres_url: str, clone_url: str, name: str, **extra: str
) -> dict[str, str]:
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
        **extra,
    )


async def webhook_port(process: KijiProcess) -> int:
    line = await process.wait_for_line("push webhook listening on", WAIT_S)
    found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert found, line
    return int(found.group(1))


@dataclass
class Pair:
    """Two running `kiji run` processes following one git blog, a subscribed channel; who holds the lease now."""

    emu: DiscordEmulator
    remote: BlogRemote
    clone_url: str
    channel: int
    holder: KijiProcess
    other: KijiProcess
    ports: dict[int, int]  # each process's push webhook port, by its pid
    session: aiohttp.ClientSession

    def titles(self) -> list[str]:
        return [message["embeds"][0]["title"] for message in self.emu.sent_messages.get(self.channel, [])]

    def push_post(self, number: int) -> str:
        """Commit and push a new post to the repository, as the writing pipeline does; its title."""
        path, text, title = pushed_post(number)
        self.remote.write(path, text)
        self.remote.commit(f"A new post: {title}")
        return title

    async def send_push(self, process: KijiProcess, *, signed: bool = True) -> int:
        """The forge's push webhook, delivered to `process`; the HTTP status it answered."""
        body, headers = signed_github_push(self.clone_url)
        if not signed:
            headers = {"X-GitHub-Event": "push"}
        return await post_webhook(self.session, self.ports[process.process.pid], body, headers)

    @property
    def blog(self) -> str:
        """The blog's name as the log says it."""
        return "127.0.0.1/" + self.clone_url.split("/", 3)[3].removesuffix(".git")


@asynccontextmanager
async def running_pair(
    emu: DiscordEmulator, remote: BlogRemote, clone_url: str, tmp_path: Path, postgres_url: str, **extra: str
) -> AsyncIterator[Pair]:
    """Both processes started at once; yields once the holder's first sync is done and a channel is subscribed.

    On leaving, the process without the lease stops first (so the lease never moves then), and both must exit 0.
    """
    guild = emu.add_guild("news server", locale="en-US", shard=(1, 2))
    channel = emu.add_channel(guild, "news")
    admin = emu.add_member(guild, name="admin", permissions=MANAGE_GUILD)
    processes = [
        await KijiProcess.start(
            "run",
            "--shard-count",
            "2",
            "--shard-ids",
            str(shard),
            env=process_env(emu, tmp_path, postgres_url, clone_url, f"shard{shard}", **extra),
            cwd=tmp_path,
        )
        for shard in (0, 1)
    ]
    pair: Pair | None = None
    try:
        holder = await lease_holder_among(postgres_url, processes, WAIT_S)
        [other] = [p for p in processes if p is not holder]
        ports = {p.process.pid: await webhook_port(p) for p in processes}  # every process serves push webhooks
        for process in processes:
            await process.wait_for_line("logged in as", WAIT_S)
        await holder.wait_for_line("ingested posts: 3 added", WAIT_S)  # the holder's first sync at start
        handle = await emu.slash_command(
            "subscribe", {"channel": channel}, user=admin, guild_id=guild, channel_id=channel, locale="en-US"
        )
        assert "will be announced" in (await handle.response(timeout_s=WAIT_S))["data"]["content"]
        async with aiohttp.ClientSession() as session:
            pair = Pair(emu, remote, clone_url, channel, holder, other, ports, session)
            yield pair
    finally:
        last = pair.holder if pair is not None else None
        exits: list[object] = []
        for process in sorted(processes, key=lambda p: p is last):
            try:
                exits.append(await process.stop())
            except AssertionError as stuck:  # killed; the other is still stopped
                exits.append(stuck)
    assert exits == [0, 0], "\n\n".join(p.text for p in processes)


async def test_a_push_to_the_process_without_the_lease_is_announced_once_by_the_holder(
    discord_emulator: DiscordEmulator,
    git_daemon: GitDaemon,
    blog_remotes: BlogRemotes,
    tmp_path: Path,
    postgres_url: str,
) -> None:
    remote = blog_remotes.blog(posts=3)
    async with running_pair(discord_emulator, remote, git_daemon.url(remote), tmp_path, postgres_url) as pair:
        holder, other = pair.holder, pair.other
        # A push verified by the process without the lease: it hands it over, the holder fetches and announces.
        handed_title = pair.push_post(1)
        assert await pair.send_push(other, signed=False) == 401
        assert await pair.send_push(other) == 202
        handed = await other.wait_for_line(HANDED_OVER, WAIT_S)
        await holder.wait_for_line(HOLDER_HEARD, WAIT_S)
        await pair.emu.wait_for(lambda: pair.titles() != [], WAIT_S, "the handed-over push's announcement")
        assert pair.titles() == [handed_title]

        # The same kind of push, verified by the holder: it syncs at once, nothing is handed over.
        direct_title = pair.push_post(2)
        seen = len(holder.lines)
        assert await pair.send_push(holder) == 202
        await holder.wait_for_line("ingested posts: 1 added", WAIT_S, after=seen)
        await pair.emu.wait_for(lambda: len(pair.titles()) >= 2, WAIT_S, "the direct push's announcement")
    assert pair.titles() == [handed_title, direct_title]  # each announced exactly once, nothing older
    assert handed.endswith(f"{HANDED_OVER} {pair.blog} to the process holding the sync lease"), handed
    assert [line for line in other.lines if HANDED_OVER in line] == [handed]  # one push, handed over once
    assert not any(HANDED_OVER in line for line in holder.lines)
    assert len([line for line in holder.lines if HOLDER_HEARD in line]) == 1  # the direct push stayed there
    assert not any("ingested posts" in line for line in other.lines)  # it never fetched nor ingested
    assert not any(HOLDING in line for line in other.lines)
    states, _lease = await ledger_and_lease(postgres_url)
    assert states == {"sent": 2}


async def test_after_the_lease_moved_the_former_holder_hands_pushes_to_the_new_one(
    discord_emulator: DiscordEmulator,
    git_daemon: GitDaemon,
    blog_remotes: BlogRemotes,
    tmp_path: Path,
    postgres_url: str,
) -> None:
    """The holder is paused (SIGSTOP) past its lease: the other takes it; resumed, the former holder stops
    syncing but keeps serving its webhook, and a push it verifies now goes to the new holder."""
    remote = blog_remotes.blog(posts=3)
    clone_url = git_daemon.url(remote)
    async with running_pair(
        discord_emulator, remote, clone_url, tmp_path, postgres_url, KIJI_LEASE_SECONDS=LEASE_S
    ) as pair:
        former, successor = pair.holder, pair.other
        seen = len(successor.lines)
        former.process.send_signal(signal.SIGSTOP)
        try:
            await successor.wait_for_line("holding the sync lease (term 2)", WAIT_S, after=seen)
        finally:
            former.process.send_signal(signal.SIGCONT)
        pair.holder, pair.other = successor, former
        await successor.wait_for_line("ingested posts:", WAIT_S, after=seen)  # its own first sync, at taking over
        lost = await former.wait_for_line("lost the sync lease (term 1)", WAIT_S)

        # Pushed to the former holder, still listening: handed over, fetched and announced by the new one.
        title = pair.push_post(1)
        former_seen, successor_seen = len(former.lines), len(successor.lines)
        assert await pair.send_push(former) == 202
        await former.wait_for_line(HANDED_OVER, WAIT_S, after=former_seen)
        await successor.wait_for_line(HOLDER_HEARD, WAIT_S, after=successor_seen)
        await pair.emu.wait_for(lambda: pair.titles() != [], WAIT_S, "the handed-over push's announcement")
    assert pair.titles() == [title]
    after_loss = former.lines[former.lines.index(lost) :]
    assert not any("ingested posts" in line for line in after_loss)  # it stopped syncing when it lost the lease
    states, lease = await ledger_and_lease(postgres_url)
    assert states == {"sent": 1}
    assert lease is not None and lease[2] == 2
