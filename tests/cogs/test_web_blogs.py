"""Blogs known only by their web address, end to end (issue 22): the real bot on the loopback Discord.

A WordPress-style blog is served from 127.0.0.1 (`tests/web_server.py`): a home page naming its
feed, an RSS 2.0 feed of its newest entries, a sitemap of every post, one page per post. The bot
follows it beside a folder blog and a git blog (`git daemon`), as KIJI_SOURCES names them, and
each test drives it the way its readers meet it: through announcements and `/search`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio
from bot_harness import bot_settings, poll_and_deliver, populate, running_bot
from factories import make_blog, write_post
from git_server import BlogRemotes, GitDaemon
from web_feeds import Entry, home_page, post_html, wordpress_rss
from web_server import WebServer

from bot.clock import ManualClock
from bot.emulator import DiscordEmulator
from bot.settings import Settings
from bot.sources.web import WebSource

RSS = "application/rss+xml; charset=UTF-8"
DAY = 86400.0
BOT_PAGE = "https://kiji.example.org/our-bot"
PARAGRAPHS = ["ウェブのブログの記事です。", "段落がいくつかあり、検索できる言葉を含みます。"]


def article_page(title: str, published: float, paragraphs: list[str]) -> str:
    """A post's page as jekyll-seo-tag writes one: JSON-LD BlogPosting, og:type article."""
    when = datetime.fromtimestamp(published, UTC).isoformat()
    posting = {"@context": "https://schema.org", "@type": "BlogPosting", "headline": title, "datePublished": when}
    return (
        f'<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta property="og:type" content="article"><meta property="article:published_time" content="{when}">'
        f'<script type="application/ld+json">{json.dumps(posting, ensure_ascii=False)}</script></head>'
        f"<body><article><h1>{title}</h1>{post_html(paragraphs)}</article></body></html>"
    )


@dataclass
class WebBlog:
    """What the loopback server serves for one web blog; `publish` serves its current state."""

    server: WebServer
    feed_path: str = "/feed/"
    archive: tuple[Entry, ...] = (
        Entry(
            "zeppelin-history",
            "Archive: zeppelin history",
            post_html(["Airships over Tokyo.", *PARAGRAPHS]),
            1_700_000_000.0,
        ),
        Entry("old-notes", "Archive: old notebook", post_html(["Notebooks from 2023.", *PARAGRAPHS]), 1_701_000_000.0),
    )

    def __post_init__(self) -> None:
        self.entries = [
            Entry(
                "feed-one",
                "Feed: first entry",
                post_html(["The first entry in the feed.", *PARAGRAPHS]),
                1_750_000_000.0,
            ),
            Entry(
                "feed-two",
                "Feed: second entry",
                post_html(["The second entry in the feed.", *PARAGRAPHS]),
                1_750_100_000.0,
            ),
        ]

    def publish(self) -> None:
        base = self.server.base
        self.server.put("/", home_page(self.feed_path))
        self.server.put(self.feed_path, wordpress_rss(base, self.entries), RSS)
        every = [*self.archive, *self.entries]
        for entry in every:
            paragraphs = [entry.html]  # the page says what the entry says
            self.server.put(f"/{entry.slug}/", article_page(entry.title, entry.published, paragraphs))
        urls = "".join(f"<url><loc>{entry.href(base)}</loc></url>" for entry in every)
        self.server.put(
            "/sitemap.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
            "application/xml; charset=utf-8",
        )

    def add(self, slug: str, title: str, text: str, published: float) -> Entry:
        entry = Entry(slug, title, post_html([text, *PARAGRAPHS]), published)
        self.entries.insert(0, entry)
        self.publish()
        return entry


@dataclass
class WebWorld:
    emu: DiscordEmulator
    server: WebServer
    blog: WebBlog
    folder: Path
    channel: int
    admin: int
    clock: ManualClock
    tmp: Path

    def settings(self, *specs: str, **overrides: object) -> Settings:
        """The bot's settings with these SPECs as KIJI_SOURCES, the web blog's rate limit lifted."""
        options: dict[str, object] = {"fetch_rate": 1000.0, "user_agent_url": BOT_PAGE, **overrides}
        return bot_settings(
            self.emu,
            self.folder,
            self.tmp / "kiji.sqlite3",
            sources=specs,
            data_dir=self.tmp / "data",
            site_url=None,
            **options,
        )

    def titles(self) -> list[str]:
        return [message["embeds"][0]["title"] for message in self.emu.sent_messages.get(self.channel, [])]

    async def search(self, query: str) -> str:
        handle = await self.emu.slash_command("search", {"query": query}, user=self.admin, locale="en-US")
        return str((await handle.response())["data"])

    async def subscribe(self) -> None:
        handle = await self.emu.slash_command("subscribe", {"channel": self.channel}, user=self.admin, locale="en-US")
        assert "will be announced" in (await handle.response())["data"]["content"]


@pytest_asyncio.fixture
async def web_world(
    discord_emulator: DiscordEmulator, web_server: WebServer, tmp_path: Path
) -> AsyncIterator[WebWorld]:
    _guild, channel, admin, _member = populate(discord_emulator)
    blog = WebBlog(web_server)
    blog.publish()
    folder = make_blog(tmp_path / "posts", tagged_ai=2)
    yield WebWorld(discord_emulator, web_server, blog, folder, channel, admin, ManualClock(), tmp_path)


async def test_a_blog_added_by_its_home_page_backfills_silently_then_announces_a_new_entry_once(
    web_world: WebWorld,
) -> None:
    world, server = web_world, web_world.server
    async with running_bot(world.emu, world.settings(str(world.folder)), clock=world.clock):
        await world.subscribe()  # a channel following every blog, from before the web blog was added

    world.clock.advance(60.0)
    home = server.url("/")
    async with running_bot(world.emu, world.settings(str(world.folder), home), clock=world.clock) as bot:
        [web_source] = [source for source in bot.sources if isinstance(source, WebSource)]
        assert bot.sync.outcomes[web_source.name].error is None
        await bot.announcer.run_round()
        assert world.titles() == []  # its archive and the feed's first entries are its past
        found = await world.search("zeppelin")
        assert "Archive: zeppelin history" in found, found
        assert "Feed: second entry" in await world.search("second")
        # every page of the sitemap was fetched once, asked as the settings say who we are
        assert len(server.requests("/zeppelin-history/")) == 1
        assert server.log and all(f"+{BOT_PAGE}" in (entry.user_agent or "") for entry in server.log)

        world.clock.advance(60.0)
        world.blog.add("feed-three", "Feed: a new entry", "Brand new marmalade recipe.", world.clock.time() - DAY)
        await poll_and_deliver(bot)
        await poll_and_deliver(bot)
        assert world.titles() == ["Feed: a new entry"]

        world.clock.advance(60.0)  # the entry is edited: stored anew, never announced again
        edited = replace(world.blog.entries[0], html=post_html(["Corrected quince recipe.", *PARAGRAPHS]))
        world.blog.entries[0] = edited
        world.blog.publish()
        await poll_and_deliver(bot)
        assert world.titles() == ["Feed: a new entry"]
        assert "Feed: a new entry" in await world.search("quince")

        world.clock.advance(60.0)  # it leaves the feed (a feed holds only the newest): kept and searchable
        world.blog.entries = [entry for entry in world.blog.entries if entry.slug != "feed-three"]
        world.blog.publish()
        await poll_and_deliver(bot)
        assert bot.sync.outcomes[web_source.name].error is None
        assert "Feed: a new entry" in await world.search("quince")
        assert world.titles() == ["Feed: a new entry"]


async def test_the_bot_fetches_at_the_configured_rate_and_names_the_configured_page(web_world: WebWorld) -> None:
    world = web_world
    settings = world.settings(world.server.url("/"), fetch_rate=37.5, user_agent_url="https://ops.example.org/kiji")
    async with running_bot(world.emu, settings, clock=world.clock) as bot:
        [web_source] = [source for source in bot.sources if isinstance(source, WebSource)]
        assert web_source._policy.rate == 37.5  # KIJI_FETCH_RATE reaches the source the running bot polls
        agents = {entry.user_agent for entry in world.server.log}
        assert len(agents) == 1 and "+https://ops.example.org/kiji" in str(agents.pop())


async def test_a_feed_moved_permanently_is_followed_and_remembered(web_world: WebWorld) -> None:
    world, server = web_world, web_world.server
    settings = world.settings(server.url("/feed/"))
    async with running_bot(world.emu, settings, clock=world.clock) as bot:
        await world.subscribe()
        world.clock.advance(60.0)
        world.blog.feed_path = "/new/feed/"  # the blog moved its feed and says so with a 301
        world.blog.add("after-move", "Feed: after the move", "Written after the feed moved.", world.clock.time() - DAY)
        server.redirect("/feed/", "/new/feed/")
        await poll_and_deliver(bot)
        assert world.titles() == ["Feed: after the move"]
        asked_old = len(server.requests("/feed/"))
        await poll_and_deliver(bot)
        assert len(server.requests("/feed/")) == asked_old  # the next poll asks the new address only

    async with running_bot(world.emu, settings, clock=world.clock) as bot:  # and after a restart
        await poll_and_deliver(bot)
        assert len(server.requests("/feed/")) == asked_old
        assert [entry.status for entry in server.requests("/new/feed/")][-2:] == [304, 304]
        assert world.titles() == ["Feed: after the move"]


async def test_a_failing_feed_does_not_stop_the_folder_and_git_blogs_beside_it(
    web_world: WebWorld, git_daemon: GitDaemon, blog_remotes: BlogRemotes
) -> None:
    world, server = web_world, web_world.server
    remote = blog_remotes.blog(posts=2)
    specs = (server.url("/"), str(world.folder), f"git+{git_daemon.url(remote)}")
    async with running_bot(world.emu, world.settings(*specs), clock=world.clock) as bot:
        await world.subscribe()
        world.clock.advance(60.0)
        server.fail("/feed/", 500)
        write_post(world.folder, "2025-09-01-folder.md", "The folder blog goes on", "本文です。")
        remote.write("_posts/2025-09-02-git.md", '---\ntitle: "The git blog goes on"\n---\n本文です。\n')
        remote.commit("A new post")
        await poll_and_deliver(bot)
        assert sorted(world.titles()) == ["The folder blog goes on", "The git blog goes on"]
        [web_source] = [source for source in bot.sources if isinstance(source, WebSource)]
        error = bot.sync.outcomes[web_source.name].error or ""
        assert "answered 500" in error, error
        handle = await world.emu.slash_command("about", locale="en-US")
        about = str((await handle.response())["data"])
        assert "answered 500" in about, about  # /about says which blog fails and why
        # the web blog's posts are still served while its feed fails
        assert "Archive: zeppelin history" in await world.search("zeppelin")
