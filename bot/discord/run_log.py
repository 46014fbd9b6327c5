"""What `kiji run` says it does at its default log level: one line per fact a user asks first.

Where the posts come from, what the ingest did, that Kiji is logged in and where, and the
state of each subscription at start. Later ingests say something only when they changed
something, so a quiet blog makes a quiet log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.services.blogs import SourceOutcome
from bot.services.ingest import IngestReport

if TYPE_CHECKING:
    from bot.sources.base import Source
    from bot.store import KijiStore

log = logging.getLogger(__name__)

INVITE_HINT = "run `kiji invite` and open the URL it prints to add the bot to a server"


def describe_source(outcome: SourceOutcome, several: bool = False) -> str:
    site = outcome.site
    if site is None:
        return f"posts from {outcome.source.display}"
    kind = "a plain folder of posts" if site.posts_only else "a Jekyll site"
    # KIJI_SITE_URL gives one blog its address; with several, each needs a `url` in its _config.yml.
    fix = "give it a url in its _config.yml" if several else "set KIJI_SITE_URL for full links"
    links = f"links under {site.url}{site.baseurl}" if site.url else f"links relative ({fix})"
    return f"posts from {outcome.source.display} ({kind}; {links})"


def describe_ingest(report: IngestReport) -> str:
    return (
        f"ingested posts: {report.added} added, {report.updated} updated, {report.removed} removed, "
        f"{len(report.failed)} failed, {report.unchanged} unchanged"
    )


class _Listened(Protocol):
    @property
    def listeners(self) -> list[Callable[[SourceOutcome], None]]: ...


class LoggedBot(Protocol):
    """What the run's log reads of the bot: `KijiBot` has it, and imports this module (never the reverse)."""

    @property
    def sources(self) -> Sequence[Source]: ...

    @property
    def store(self) -> KijiStore: ...

    @property
    def sync(self) -> _Listened: ...

    @property
    def user(self) -> discord.ClientUser | None: ...

    @property
    def guilds(self) -> Sequence[discord.Guild]: ...

    def add_listener(self, func: Callable[..., Coroutine[Any, Any, Any]], /, name: str = ...) -> None: ...

    def get_channel(self, id: int, /) -> object | None: ...

    def get_guild(self, id: int, /) -> discord.Guild | None: ...


class RunLog:
    """Listens to the bot's own events and the blog sync's outcomes, and says what happened, once, at INFO."""

    def __init__(self, bot: LoggedBot) -> None:
        self.bot = bot
        self.synced: set[str] = set()  # the blogs whose first outcome of this run was told
        self.readies = 0

    def attach(self) -> None:
        self.bot.sync.listeners.append(self.on_synced)
        self.bot.add_listener(self.on_ready, "on_ready")

    def on_synced(self, outcome: SourceOutcome) -> None:
        """A blog's first sync says where its posts come from; later ones speak only of changes.

        Blogs sync each on their own, so each says it when it is done: a slow one comes later.
        """
        first = outcome.source.name not in self.synced
        self.synced.add(outcome.source.name)
        several = len(self.bot.sources) > 1
        report = outcome.report
        if first:
            log.info("%s", describe_source(outcome, several=several))
        if report is None:
            return
        if first or report.added or report.updated or report.removed or report.failed:
            log.info("%s%s", describe_ingest(report), f" ({outcome.source.display})" if several else "")
        if first and not (report.added or report.updated or report.unchanged or report.failed):
            log.warning(
                "no posts in %s: a post is a Markdown file named YYYY-MM-DD-title.md with front matter",
                outcome.source.display,
            )

    async def on_ready(self) -> None:
        self.readies += 1
        bot = self.bot
        user = bot.user
        servers = len(bot.guilds)
        log.info(
            "logged in as %s (id %s) in %d %s", user, user.id if user else "?", servers, _plural(servers, "server")
        )
        if not servers:
            log.warning("the bot is in no server yet: %s", INVITE_HINT)
        if self.readies == 1:
            await self.log_subscriptions()

    async def log_subscriptions(self) -> None:
        subscriptions = await self.bot.store.subscriptions()
        if not subscriptions:
            log.info("no subscriptions yet: a server admin starts announcements with /subscribe in a channel")
            return
        pending = Counter(d.subscription_id for d in await self.bot.store.pending_deliveries())
        for subscription in subscriptions:
            state = "active" if subscription.active else f"paused ({subscription.paused_reason})"
            filters = ", ".join(
                part
                for part in (
                    f"tags {', '.join(subscription.tags)}" if subscription.tags else "",
                    f"categories {', '.join(subscription.categories)}" if subscription.categories else "",
                )
                if part
            )
            log.info(
                "subscription %d: %s: %s%s, %d pending",
                subscription.id,
                self._where(subscription.guild_id, subscription.channel_id),
                state,
                f", {filters}" if filters else "",
                pending[subscription.id],
            )

    def _where(self, guild_id: int, channel_id: int) -> str:
        channel = self.bot.get_channel(channel_id)
        guild = self.bot.get_guild(guild_id)
        server = f"server {guild.name!r}" if guild else f"server {guild_id} (the bot is not in it)"
        if isinstance(channel, discord.abc.GuildChannel):
            return f"#{channel.name} in {server}"
        return f"channel {channel_id} (not visible to the bot) in {server}"


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"
