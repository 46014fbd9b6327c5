"""The Discord bot: one class wired from settings and a store, as in discord.py's advanced start-up.

`setup_hook` connects and migrates the store, starts keeping the blogs in sync (in the
background: the bot logs in and answers while a slow source is still being read), loads every
cog in `cogs/`, syncs slash commands only when the command tree differs from the one last
synced (its hash is kept in the store), and starts the announcer. Syncing commands in
`on_ready` would hit Discord's command rate limits on every reconnect; never would leave users
with stale commands.

Keeping blogs in sync is the sync service's (`bot.services.sync.BlogSync`: sources, ingest
process, watcher, push webhooks, each blog's last outcome), handed in like the store; the bot
only subscribes its announcer to it. The announcer belongs to the bot, not to a cog: unloading
or reloading `cogs.announcements` changes the commands, never whether new posts are announced.

With several processes on one PostgreSQL store, `run_bot` hands in a sync lease: then syncing and
every send (announcements, digests, notices) are the lease holder's, begun and ended by
`LeaseDuties` as the lease comes and goes, while every process answers its shards' commands.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import importlib.util
import json
import logging
import pkgutil
from typing import Any
from zoneinfo import ZoneInfo

import discord
import yarl
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Location
from discord.ext import commands

from bot import __version__
from bot.clock import SYSTEM_CLOCK, Clock
from bot.content import limits
from bot.content.templates import Template
from bot.discord.announcement import (
    Announcement,
    AnnouncementStyle,
    BlogIdentity,
    render_announcement,
    render_thread_name,
)
from bot.discord.announcer import Announcer
from bot.discord.blogs import blog_labels, label_of
from bot.discord.i18n import command_text_ja, t
from bot.discord.options import OptionOutOfRange
from bot.discord.other_shards import OtherShardChannels
from bot.discord.reach import GUILD_INSTALL_ONLY, SERVERS_ONLY
from bot.discord.schedules import scheduled_senders, stop_scheduled
from bot.discord.ui import PAGINATOR_TIMEOUT, summary_parts
from bot.discord.webhook_delivery import icon_url
from bot.models import Post, Subscription
from bot.services.ingest import IngestReport
from bot.services.lease import LeaseDuties, SyncLease
from bot.services.llm import LLMClient
from bot.services.parse_pool import WORKER_NICENESS
from bot.services.summaries import SummaryService
from bot.services.sync import BlogSync
from bot.services.webhooks import WebhookConfig
from bot.settings import Settings
from bot.sources.base import Source
from bot.sources.factory import sources_from_specs
from bot.sources.site_config import Site
from bot.store import KijiStore

log = logging.getLogger(__name__)

COMMAND_HASH_KEY = "command_tree_hash:{application}:{scope}"
MISSING_ACCESS = 50001  # Discord's JSON error code for a 403 on something the bot may not reach at all


# Where a command string sits → the table of `command_text_ja`; every other place is a description.
_TEXT_TABLE = {
    Location.command_name: "command",
    Location.group_name: "command",
    Location.parameter_name: "option",
    Location.choice_name: "choice",
}


class KijiTranslator(app_commands.Translator):
    """Japanese command names and descriptions; en-US gets the English defaults as they are.

    Looked up by the string's place (`context.location`), not by the English word alone: "tags"
    names both the /tags command and /subscribe's option, which read differently in Japanese.
    """

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if locale is discord.Locale.american_english:
            return string.message
        if locale is not discord.Locale.japanese:
            return None
        command = None
        if context.location is Location.parameter_name:
            command = context.data.command.qualified_name
        return command_text_ja(_TEXT_TABLE.get(context.location, "description"), string.message, command)


class KijiTree(app_commands.CommandTree["KijiBot"]):
    """The one error path: log with the traceback, tell the user briefly, never leave them hanging."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            message = t("missing_permissions", interaction.locale)
        elif isinstance(error, app_commands.NoPrivateMessage):
            message = t("guild_only", interaction.locale)
        elif isinstance(error, OptionOutOfRange):
            value = limits.cut(str(error.value), 40)
            message = t("option_out_of_range", interaction.locale, value=value, low=error.low, high=error.high)
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error("command /%s failed for user %s", command, interaction.user.id, exc_info=error)
            message = t("error", interaction.locale)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True)
            else:
                await interaction.response.send_message(message, ephemeral=True)
        except discord.HTTPException:
            log.exception("could not tell the user about an error")


class KijiBot(commands.Bot):
    """Serves the posts of every configured blog. Receives its settings, (unconnected) store and optional model client.

    Like the store, the model client and the blog sync are built by the caller (`run_bot`, the
    tests) and handed in, as in discord.py's advanced start-up example; the bot starts the sync
    once the store is connected and closes all three when it closes. Without a `sync`, one is
    made from `sources` (default: the settings' KIJI_SOURCES, or the one local folder) and `webhook`.
    """

    def __init__(
        self,
        settings: Settings,
        store: KijiStore,
        llm: LLMClient | None = None,
        *,
        force_sync: bool = False,
        sources: list[Source] | None = None,
        webhook: WebhookConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        sync: BlogSync | None = None,
        lease: SyncLease | None = None,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=KijiTree,
            allowed_installs=GUILD_INSTALL_ONLY,  # reading commands widen it (`bot.discord.reach`)
            allowed_contexts=SERVERS_ONLY,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **options,
        )
        self.settings = settings
        self.store = store
        self.llm = llm
        self.summaries = SummaryService(store, llm)
        self.force_sync = force_sync
        self.version = __version__
        self.clock = clock
        if sync is None:
            chosen = sources if sources is not None else configured_sources(settings)
            sync = blog_sync(settings, store, chosen, webhook=webhook, clock=clock)
        self.sync = sync
        # With a lease (several processes on one PostgreSQL store), this process polls and sends only while it
        # holds it, and then in every shard's servers; without one it always does, in its own shards' servers.
        self.lease = lease
        self.duties = LeaseDuties(lease, self.begin_sending, self.end_sending) if lease is not None else None
        if lease is not None:  # pushes this process verifies go to the holder when it is another one
            self.sync.holds_lease = lambda: lease.held
        self.other_shards = OtherShardChannels(self, lambda: self.announcer.pacer.wait(), clock=clock)
        self.announcer = Announcer(
            store,
            self,
            self.announcement_for,
            max_burst=settings.max_burst,
            poll_seconds=settings.poll_seconds,
            clock=clock,
            serves_guild=self.serves_guild if lease is None else lambda _guild_id: True,
            may_send=lease.may_send if lease is not None else None,
            other_shard_channel=self.other_shard_channel if lease is not None else None,
            claim=lease.claim_deliveries if lease is not None else None,
        )
        self.sync.listeners.append(lambda _outcome: self.announcer.wake())  # posts may have become visible
        self.digests, self.notices = scheduled_senders(self, self)  # digests, and notices when a blog stops updating
        self.paginator_timeout = PAGINATOR_TIMEOUT
        if settings.api_base:
            # discord.py builds every REST URL from this class attribute.
            discord.http.Route.BASE = settings.api_base

    def serves_guild(self, guild_id: int) -> bool:
        """Whether this process runs the shard of `guild_id` (another process announces to the others)."""
        count, ids = self.settings.shard_count, self.settings.shard_ids
        return count is None or ids is None or (guild_id >> 22) % count in ids

    async def other_shard_channel(self, guild_id: int, channel_id: int) -> object | None:
        """A channel the cache lacks because its server is in another process's shard (None if in ours: gone)."""
        return None if self.serves_guild(guild_id) else await self.other_shards.channel(guild_id, channel_id)

    async def channel_for(self, guild_id: int, channel_id: int) -> object | None:
        """A channel to send to: from the cache, or (holding the sync lease) from another shard's server."""
        channel = self.get_channel(channel_id)
        if channel is None and self.lease is not None:
            channel = await self.other_shard_channel(guild_id, channel_id)
        return channel

    async def begin_sending(self) -> None:
        """Poll the blogs and send (the announcer's first round finishes whatever the ledger has pending)."""
        await self.sync.start()  # in the background: a slow source must not keep the bot from logging in
        self.announcer.start()
        self.digests.start()
        self.notices.start()

    async def end_sending(self) -> None:
        # The sync stops first (an ingest in flight ends after its batch), then the announcer
        # finishes its delivery in flight: only then may the connection and the store go.
        try:
            await (self.sync.stop_syncing() if self.duties is not None else self.sync.stop())
        except Exception:
            log.exception("stopping the blog sync failed")
        try:
            await self.announcer.stop()
        except Exception:
            log.exception("stopping the announcer failed")
        await stop_scheduled(self)

    @property
    def sources(self) -> list[Source]:
        return self.sync.sources

    @property
    def site(self) -> Site | None:
        """The first blog's site as last read (None until it was): its time zone is the one dates are shown in."""
        return self.sync.site

    @property
    def last_ingest(self) -> IngestReport | None:
        return self.sync.last_report

    @property
    def timezone(self) -> ZoneInfo:
        tz = self.site.timezone if self.site else None
        return tz if isinstance(tz, ZoneInfo) else ZoneInfo("UTC")

    async def login(self, token: str) -> None:
        await super().login(token)
        await self._point_gateway()

    async def _point_gateway(self) -> None:
        """Connect to the gateway that the configured API names, not Discord's default one.

        discord.py's non-sharded client always starts at `DiscordWebSocket.DEFAULT_GATEWAY`;
        behind a REST proxy or a local emulation that is the wrong place.
        """
        gateway = self.settings.gateway_url
        if gateway is None and self.settings.api_base:
            _, gateway, _ = await self.http.get_bot_gateway()
        if gateway:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
            log.info("using gateway %s", gateway)

    async def setup_hook(self) -> None:
        await self.store.connect()
        await self.store.lower_writer_priority(WORKER_NICENESS)  # ingest batches yield to replies
        if self.duties is None:
            await self.sync.start()  # in the background: a slow source must not keep the bot from logging in
        else:
            await self.sync.serve()  # syncing is the lease holder's; blogs' names, pushes and cache drops everyone's
        await self.tree.set_translator(KijiTranslator())
        for module in cog_modules():
            await self.load_extension(module)
        await self.sync_commands_if_changed()
        if self.duties is None:
            self.announcer.start()
            self.digests.start()
            self.notices.start()
        else:
            self.duties.start()  # polls and sends once (and while) this process holds the sync lease
        _settle_long_lived_objects()

    async def summary_for(self, post: Post, length: str, locale: str | None) -> tuple[str, str]:
        """(summary text, footer saying where it came from) for embeds and announcements."""
        return summary_parts(await self.summaries.shown(post, length), locale)

    async def announcement_for(
        self, post: Post, subscription: Subscription, locale: str, role_id: int | None
    ) -> Announcement:
        """A new post as the subscription's channel sees it: its layout and template, the server's language.

        The template was checked when it was set; here a text too long for Discord is cut to fit.
        """
        style = AnnouncementStyle.of(subscription.layout, subscription.template, subscription.timezone)
        announcement = await self.render_announcement(post, style, locale, role_id)
        thread_name = await render_thread_name(
            post,
            Template.parse(subscription.thread_name) if subscription.thread_name else None,
            summarize=self.summary_for,
            locale=locale,
            tz=style.timezone or self.timezone,
            blog=label_of(await blog_labels(self), post),
        )
        sender = await self.blog_identity(post) if subscription.delivery == "webhook" else None
        return dataclasses.replace(announcement, thread_name=thread_name, sender=sender)

    async def blog_identity(self, post: Post) -> BlogIdentity:
        """Who a webhook announcement of `post` comes from: its blog's title and `_config.yml` picture."""
        name = (await self.store.source_labels()).get(post.source_id) or "Kiji"
        site = self.sync.sites.get(post.source)
        return BlogIdentity(name, icon_url(site.icon, site.baseurl, post.abs_url) if site else None)

    async def render_announcement(
        self, post: Post, style: AnnouncementStyle, locale: str, role_id: int | None, *, strict: bool = False
    ) -> Announcement:
        """`post` in `style` (see bot.discord.announcement); `strict` raises TemplateError instead of cutting."""
        return await render_announcement(
            post,
            style,
            summarize=self.summary_for,
            locale=locale,
            blog_tz=self.timezone,
            blog=label_of(await blog_labels(self), post),  # with several blogs, say which one
            role_id=role_id,
            strict=strict,
        )

    async def command_payload(self, guild: discord.abc.Snowflake | None) -> list[dict[str, Any]]:
        translator = self.tree.translator
        payload = []
        for command in self.tree.get_commands(guild=guild):
            if translator is not None:
                payload.append(await command.get_translated_payload(self.tree, translator))
            else:
                payload.append(command.to_dict(self.tree))
        return payload

    async def sync_commands_if_changed(self) -> bool:
        """Sync to the dev guild (instant) or globally, only when the tree differs from the last sync."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = await self.command_payload(guild)
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        # Keyed by application too: the same database under another bot application must sync.
        key = COMMAND_HASH_KEY.format(application=self.application_id, scope=guild.id if guild else "global")
        where = f"to guild {guild.id}" if guild else "globally"
        if not self.force_sync and await self.store.get_meta(key) == digest:
            log.info("slash commands unchanged since they were last synced %s; not syncing", where)
            return False
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.Forbidden as exc:
            if exc.code != MISSING_ACCESS:
                raise
            # The bot still serves announcements; the hash stays unrecorded, so the next start tries again.
            log.error(
                "could not sync slash commands %s: Discord answered 403 Missing Access: the bot was added "
                "without the applications.commands scope%s. Run `kiji invite` and open its URL to add it "
                "(the bot stays in the server), then restart",
                where,
                f" to guild {guild.id}, or is not in it" if guild else "",
            )
            return False
        await self.store.set_meta(key, digest)
        log.info("synced %d slash commands %s", len(synced), where)
        return True

    async def close(self) -> None:
        if self.duties is not None:
            await self.duties.stop()  # and the lease is released: another process takes over at once
            try:
                await self.sync.stop()  # what every process serves: the push webhook, cluster events
            except Exception:
                log.exception("stopping the blog sync failed")
        else:
            await self.end_sending()
        for name in list(self.extensions):
            try:
                await self.unload_extension(name)
            except Exception:
                log.exception("unloading %s during shutdown failed", name)
        try:
            await super().close()
        finally:
            if self.llm is not None:
                await self.llm.close()
            await self.store.close()
            _thaw_long_lived_objects()


def blog_sync(
    settings: Settings,
    store: KijiStore,
    sources: list[Source],
    *,
    webhook: WebhookConfig | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> BlogSync:
    """The sync service as the settings configure it."""
    return BlogSync(
        store,
        sources,
        poll_seconds=settings.poll_seconds,
        load=settings.load_site,
        clock=clock,
        webhook=webhook,
        ingest_idle_s=settings.ingest_idle_seconds or None,
    )


class ShardedKijiBot(KijiBot, commands.AutoShardedBot):
    """Kiji over discord.py's sharded client: `settings.shard_ids` (default all) of `settings.shard_count`."""

    def __init__(self, settings: Settings, *args: Any, **options: Any) -> None:
        shard_ids = list(settings.shard_ids) if settings.shard_ids is not None else None
        super().__init__(settings, *args, shard_count=settings.shard_count, shard_ids=shard_ids, **options)


def configured_sources(settings: Settings) -> list[Source]:
    """The configured sources, built as `kiji ingest` builds them: with the web fetch rate and User-Agent page."""
    return sources_from_specs(
        settings.source_specs,
        settings.data_dir,
        fetch_rate=settings.fetch_rate,
        user_agent_url=settings.user_agent_url,
    )


# A full collection after this many collections of the middle generation (Python's default: 10).
# An ingest makes hundreds of those; full passes at Python's pace stopped the loop dozens of times.
FULL_COLLECTION_EVERY = 100
PYTHON_FULL_COLLECTION_EVERY = gc.get_threshold()[2]


def _settle_long_lived_objects() -> None:
    """Keep the garbage collector's full passes off what start-up built, for good.

    A full pass walks every live object while the event loop waits: at 100,000 posts that
    was a quarter of a second, dozens of times during an ingest (bench.latency_during_ingest
    counted them), each one a reply that late. What start-up made (the store's caches, the
    command tree, the cogs) lives as long as the bot: frozen, later passes skip it; `close`
    thaws it, so a bot closed in a process that goes on (tests, `kiji demo`) can be collected.
    """
    gc.collect()
    gc.freeze()
    _full_collection_every(FULL_COLLECTION_EVERY)


def _thaw_long_lived_objects() -> None:
    """Undo `_settle_long_lived_objects`: what start-up froze may be collected once the bot is gone."""
    gc.unfreeze()
    _full_collection_every(PYTHON_FULL_COLLECTION_EVERY)


def _full_collection_every(middle_collections: int) -> None:
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, middle_collections)


COGS_PACKAGE = "cogs"


def cog_modules() -> list[str]:
    """Every cog module the bot loads: each public module of the `cogs` package.

    Found by the package's name, as `load_extension` loads them, not imported here: the cogs sit above
    this module (they use the bot), and an import from here would run an arrow back up the layers.
    """
    spec = importlib.util.find_spec(COGS_PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        raise RuntimeError(f"the {COGS_PACKAGE!r} package of slash commands is not on the import path")
    found = pkgutil.iter_modules(spec.submodule_search_locations)
    return sorted(f"{COGS_PACKAGE}.{m.name}" for m in found if not m.name.startswith("_"))
