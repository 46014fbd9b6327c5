"""The bot following a blog in a git repository, end to end: real git daemon, real discord.py, the loopback Discord.

A pushed post is announced once; renaming it (a date fixed in its file name) and then rewriting
the whole history with a force-push announce nothing again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from bot_harness import bot_settings, populate, running_bot, running_client
from git_server import BlogRemote, BlogRemotes, GitDaemon

from bot.discord.announcer import Announcer
from bot.discord.client import KijiBot, StartFailed, run_bot
from bot.emulator import DiscordEmulator
from bot.services.webhooks import WebhookConfig
from bot.store import Store

SECRET = "bot-webhook-secret-9f2"

PUSHED = """---
title: "Pushed from the writing pipeline"
tags: [AI]
---
A post the writing pipeline pushed to the repository today, about models and rockets.
"""


class GitWorld:
    def __init__(self, emu: DiscordEmulator, bot: KijiBot, remote: BlogRemote, channel: int, admin: int) -> None:
        self.emu, self.bot, self.remote, self.channel, self.admin = emu, bot, remote, channel, admin

    @property
    def announcer(self) -> Announcer:
        return self.bot.get_cog("AnnouncementsCog").announcer  # type: ignore[union-attr]

    def titles(self) -> list[str]:
        return [message["embeds"][0]["title"] for message in self.emu.sent_messages.get(self.channel, [])]


@pytest_asyncio.fixture
async def git_world(
    discord_emulator: DiscordEmulator, git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> AsyncIterator[GitWorld]:
    _guild, channel, admin, _member = populate(discord_emulator)
    remote = blog_remotes.blog(posts=4)
    settings = bot_settings(
        discord_emulator,
        tmp_path / "unused-posts",
        tmp_path / "kiji.sqlite3",
        sources=(f"git+{git_daemon.url(remote)}",),
        data_dir=tmp_path / "data",
        site_url=None,
    )
    async with running_bot(discord_emulator, settings) as bot:
        yield GitWorld(discord_emulator, bot, remote, channel, admin)


async def test_a_pushed_post_is_announced_once_and_a_rename_or_force_push_never_again(git_world: GitWorld) -> None:
    world = git_world
    assert len(await world.bot.store.all_posts()) == 4  # cloned and ingested at start-up
    handle = await world.emu.slash_command("subscribe", {"channel": world.channel}, user=world.admin, locale="en-US")
    assert "will be announced" in (await handle.response())["data"]["content"]
    await world.announcer.run_round()
    assert world.titles() == []  # nothing already in the repository is news

    world.remote.write("_posts/2025-11-02-pushed.md", PUSHED)
    world.remote.commit("A new post")
    await world.announcer.run_round()
    await world.announcer.run_round()
    assert world.titles() == ["Pushed from the writing pipeline"]

    world.remote.rename("_posts/2025-11-02-pushed.md", "_posts/2025-11-03-pushed.md")
    world.remote.commit("Fix the post's date")
    await world.announcer.run_round()
    world.remote.rewrite_history()
    await world.announcer.run_round()

    assert world.titles() == ["Pushed from the writing pipeline"]
    paths = {post.path for post in await world.bot.store.all_posts()}
    assert "_posts/2025-11-03-pushed.md" in paths and "_posts/2025-11-02-pushed.md" not in paths


async def test_a_signed_push_webhook_makes_the_bot_fetch_and_announce_at_once(
    discord_emulator: DiscordEmulator, git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> None:
    """The poll interval is an hour: only the webhook can bring the pushed post in."""
    _guild, channel, admin, _member = populate(discord_emulator)
    remote = blog_remotes.blog(posts=3)
    url = git_daemon.url(remote)
    settings = bot_settings(
        discord_emulator,
        tmp_path / "unused-posts",
        tmp_path / "kiji.sqlite3",
        sources=(f"git+{url}",),
        data_dir=tmp_path / "data",
        site_url=None,
    )
    bot = KijiBot(
        settings, Store(settings.db_path), None, guild_ready_timeout=0.05, webhook=WebhookConfig("127.0.0.1", 0, SECRET)
    )
    async with running_client(discord_emulator, bot, settings.discord_token or ""):
        world = GitWorld(discord_emulator, bot, remote, channel, admin)
        handle = await world.emu.slash_command("subscribe", {"channel": channel}, user=admin, locale="en-US")
        await handle.response()
        await world.announcer.run_round()
        remote.write("_posts/2025-11-02-pushed.md", PUSHED)
        remote.commit("A new post")
        assert bot.webhook is not None
        hook_url = f"http://127.0.0.1:{bot.webhook.port}/"
        body = json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": url}}).encode()
        async with aiohttp.ClientSession() as session:
            async with session.post(hook_url, data=body, headers={"X-GitHub-Event": "push"}) as unsigned:
                assert unsigned.status == 401
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature}
            async with session.post(hook_url, data=body, headers=headers) as signed:
                assert signed.status == 202
        await world.emu.wait_for(lambda: world.titles() != [], 20, "the webhook's announcement")
        assert world.titles() == ["Pushed from the writing pipeline"]


async def test_kiji_run_refuses_a_webhook_secret_without_a_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, discord_emulator: DiscordEmulator
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("KIJI_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("KIJI_WEBHOOK_PORT", raising=False)
    settings = bot_settings(discord_emulator, tmp_path, tmp_path / "kiji.sqlite3")
    with pytest.raises(StartFailed, match="KIJI_WEBHOOK_PORT is not") as refused:
        await run_bot(settings)
    assert SECRET not in str(refused.value)
    assert not (tmp_path / "kiji.sqlite3").exists()  # refused before anything started
