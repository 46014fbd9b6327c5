"""The bot following a blog in a git repository, end to end: real git daemon, real discord.py, the loopback Discord.

A pushed post is announced once; renaming it (a date fixed in its file name) and then rewriting
the whole history with a force-push announce nothing again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from bot_harness import bot_settings, populate, running_bot
from git_bot_world import (
    PUSHED_TITLE,
    WEBHOOK_SECRET,
    GitWorld,
    git_bot_settings,
    post_webhook,
    signed_github_push,
)
from git_server import BlogRemotes, GitDaemon

from bot.discord.run import StartFailed, run_bot
from bot.emulator import DiscordEmulator
from bot.services.webhooks import WebhookConfig


@pytest_asyncio.fixture
async def git_world(
    discord_emulator: DiscordEmulator, git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> AsyncIterator[GitWorld]:
    _guild, channel, admin, _member = populate(discord_emulator)
    remote = blog_remotes.blog(posts=4)
    settings = git_bot_settings(discord_emulator, git_daemon.url(remote), tmp_path)
    async with running_bot(discord_emulator, settings) as bot:
        yield GitWorld(discord_emulator, bot, remote, channel, admin)


async def test_a_pushed_post_is_announced_once_and_a_rename_or_force_push_never_again(git_world: GitWorld) -> None:
    world = git_world
    assert len(await world.bot.store.all_posts()) == 4  # cloned and ingested at start-up
    assert "will be announced" in await world.subscribe()
    await world.check()
    assert world.titles() == []  # nothing already in the repository is news

    world.push_post()
    await world.check()
    await world.check()
    assert world.titles() == [PUSHED_TITLE]

    world.remote.rename("_posts/2025-11-02-pushed.md", "_posts/2025-11-03-pushed.md")
    world.remote.commit("Fix the post's date")
    await world.check()
    world.remote.rewrite_history()
    await world.check()

    assert world.titles() == [PUSHED_TITLE]
    paths = {post.path for post in await world.bot.store.all_posts()}
    assert "_posts/2025-11-03-pushed.md" in paths and "_posts/2025-11-02-pushed.md" not in paths


async def test_a_signed_push_webhook_makes_the_bot_fetch_and_announce_at_once(
    discord_emulator: DiscordEmulator, git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> None:
    """The poll interval is an hour: only the webhook can bring the pushed post in."""
    _guild, channel, admin, _member = populate(discord_emulator)
    remote = blog_remotes.blog(posts=3)
    url = git_daemon.url(remote)
    settings = git_bot_settings(discord_emulator, url, tmp_path)
    async with running_bot(discord_emulator, settings, webhook=WebhookConfig("127.0.0.1", 0, WEBHOOK_SECRET)) as bot:
        world = GitWorld(discord_emulator, bot, remote, channel, admin)
        await world.subscribe()
        await world.check()
        world.push_post()
        assert bot.sync.webhook is not None
        body, signed = signed_github_push(url)
        unsigned = {"X-GitHub-Event": "push"}
        async with aiohttp.ClientSession() as session:
            assert await post_webhook(session, bot.sync.webhook.port, body, unsigned) == 401
            assert await post_webhook(session, bot.sync.webhook.port, body, signed) == 202
        await world.emu.wait_for(lambda: world.titles() != [], 20, "the webhook's announcement")
        assert world.titles() == [PUSHED_TITLE]


async def test_kiji_run_refuses_a_webhook_secret_without_a_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, discord_emulator: DiscordEmulator
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("KIJI_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.delenv("KIJI_WEBHOOK_PORT", raising=False)
    settings = bot_settings(discord_emulator, tmp_path, tmp_path / "kiji.sqlite3")
    with pytest.raises(StartFailed, match="KIJI_WEBHOOK_PORT is not") as refused:
        await run_bot(settings)
    assert WEBHOOK_SECRET not in str(refused.value)
    assert not (tmp_path / "kiji.sqlite3").exists()  # refused before anything started
