"""The bot following a git repository on the loopback Discord: what the end-to-end tests and the push bench share.

`tests/bot/sources/test_git_bot.py` checks that a push is announced (once); `bench/push_latency.py` times
the same path. Both need the same set-up: settings naming the repository as the only source, a
subscribed channel, posts to push, and a push webhook signed as GitHub signs one. Keeping it in one
place means the bench measures exactly what the test proves works.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import aiohttp
from bot_harness import bot_settings, poll_and_deliver
from git_server import BlogRemote

from bot.discord.announcer import Announcer
from bot.discord.client import KijiBot
from bot.emulator import DiscordEmulator
from bot.settings import Settings

WEBHOOK_SECRET = "bot-webhook-secret-9f2"

PUSHED = """---
title: "{title}"
tags: [AI]
---
A post the writing pipeline pushed to the repository today, about models and rockets.
"""
PUSHED_TITLE = "Pushed from the writing pipeline"


def pushed_post(number: int = 0) -> tuple[str, str, str]:
    """(path in the repository, file text, title) of the `number`-th post the pipeline pushes; 0 is the tests' one."""
    if number == 0:
        return "_posts/2025-11-02-pushed.md", PUSHED.format(title=PUSHED_TITLE), PUSHED_TITLE
    title = f"{PUSHED_TITLE} #{number}"
    day = 1 + number % 28
    return f"_posts/2025-10-{day:02d}-pushed-{number}.md", PUSHED.format(title=title), title


def git_bot_settings(emu: DiscordEmulator, clone_url: str, folder: Path, **overrides: object) -> Settings:
    """The bot's settings with `git+clone_url` as its only source; its store and clone live under `folder`."""
    return bot_settings(
        emu,
        folder / "unused-posts",
        folder / "kiji.sqlite3",
        sources=(f"git+{clone_url}",),
        data_dir=folder / "data",
        site_url=None,
        **overrides,
    )


class GitWorld:
    """The emulator, the running bot, the repository it follows and the channel its announcements go to."""

    def __init__(self, emu: DiscordEmulator, bot: KijiBot, remote: BlogRemote, channel: int, admin: int) -> None:
        self.emu, self.bot, self.remote, self.channel, self.admin = emu, bot, remote, channel, admin

    def push_post(self, number: int = 0) -> str:
        """Commit and push the `number`-th post (see `pushed_post`), as the writing pipeline does; its title."""
        path, text, title = pushed_post(number)
        self.remote.write(path, text)
        self.remote.commit(f"A new post: {title}")
        return title

    @property
    def announcer(self) -> Announcer:
        return self.bot.announcer

    async def check(self) -> None:
        """What a poll does: fetch and ingest what changed, then a delivery round."""
        await poll_and_deliver(self.bot)

    def titles(self) -> list[str]:
        return [message["embeds"][0]["title"] for message in self.emu.sent_messages.get(self.channel, [])]

    async def subscribe(self) -> str:
        """/subscribe the channel as the admin; the reply's text."""
        handle = await self.emu.slash_command("subscribe", {"channel": self.channel}, user=self.admin, locale="en-US")
        return (await handle.response())["data"]["content"]

    def announced_at(self, title: str) -> float:
        """When the request that announced `title` reached the emulator (loop time, before its body was read)."""
        path = f"/channels/{self.channel}/messages"
        for request in reversed(self.emu.requests):
            if request.method == "POST" and request.path == path and 200 <= request.status < 300:
                embeds = (request.body or {}).get("embeds") or [{}]
                if embeds[0].get("title") == title:
                    return request.arrived_at
        raise LookupError(f"no announcement of {title!r} in #{self.channel}")


def signed_github_push(clone_url: str, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """A GitHub push event for the repository at `clone_url`: its body and headers, signed with `secret`."""
    body = json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": clone_url}}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature}


async def post_webhook(session: aiohttp.ClientSession, port: int, body: bytes, headers: dict[str, str]) -> int:
    """Deliver one webhook to the bot's endpoint on 127.0.0.1; the HTTP status it answered."""
    async with session.post(f"http://127.0.0.1:{port}/", data=body, headers=headers) as response:
        return response.status
