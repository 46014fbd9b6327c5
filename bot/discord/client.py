"""The Discord bot: one class wired from settings and a store, as in discord.py's advanced start-up.

`setup_hook` connects and migrates the store, starts the process that ingests posts,
ingests them, loads every cog in `cogs/`, syncs slash commands only when the command
tree differs from the one last synced (its hash is kept in the store), and starts the post
watcher and the announcer. Syncing in `on_ready` would hit Discord's command rate limits on
every reconnect; syncing never would leave users with stale commands.

The watcher and the announcer belong to the bot, not to a cog: unloading or reloading
`cogs.announcements` changes the commands, never whether new posts are stored and announced.
Ingest runs in a process of its own (`bot.services.ingest_process`: its own parse pool and
writer, at a lower priority, dying with the bot), so neither a hostile post that is slow to
clean nor a cold ingest of thousands holds the interpreter lock that replies need.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import pkgutil
import signal
from concurrent.futures.process import BrokenProcessPool
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Location
from discord.ext import commands

import cogs
from bot import __version__
from bot.clock import SYSTEM_CLOCK, Clock
from bot.discord import limits
from bot.discord.announcement import Announcement, AnnouncementStyle, render_announcement
from bot.discord.announcer import Announcer
from bot.discord.blogs import blog_labels, label_of
from bot.discord.i18n import command_text_ja, t
from bot.discord.options import OptionOutOfRange
from bot.discord.run_log import RunLog, failed_post_line
from bot.discord.ui import PAGINATOR_TIMEOUT, summary_parts
from bot.models import Post, Subscription
from bot.services.blogs import SourceOutcome, ingest_all, merged
from bot.services.ingest import IngestReport
from bot.services.ingest_process import IngestProcess
from bot.services.llm import LLMClient, client_from_settings
from bot.services.parse_pool import WORKER_NICENESS
from bot.services.post_watcher import PostWatcher
from bot.services.summaries import SummaryService
from bot.services.webhooks import PushWebhook, WebhookConfig, WebhookConfigError
from bot.settings import Settings, configured_environ
from bot.sources.base import Changes, Source
from bot.sources.factory import sources_from_specs
from bot.sources.folder import FolderSource
from bot.sources.site_config import Site
from bot.store import Store

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

    Like the store, the model client is built by the caller (`run_bot`, the tests) and handed
    in, as in discord.py's advanced start-up example; the bot closes both when it closes.
    `sources` default to the settings' (KIJI_SOURCES, or the one local folder).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        llm: LLMClient | None = None,
        *,
        force_sync: bool = False,
        sources: list[Source] | None = None,
        webhook: WebhookConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=KijiTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **options,
        )
        self.settings = settings
        self.store = store
        self.llm = llm
        self.summaries = SummaryService(store, llm)
        self.force_sync = force_sync
        self.sources: list[Source] = (
            sources if sources is not None else sources_from_specs(settings.source_specs, settings.data_dir)
        )
        # Each source's site as last read: the first one's gives the timezone dates are shown in.
        self.sites: dict[str, Site] = {}
        self.site: Site | None = None
        self.last_ingest: IngestReport | None = None
        self.last_outcomes: list[SourceOutcome] = []
        self.version = __version__
        self.ingest_lock = asyncio.Lock()
        self.webhook_config = webhook
        self.webhook: PushWebhook | None = None
        self.clock = clock
        self.ingester = IngestProcess(store)
        # File events only where a source is a folder on this disk; every source is polled.
        folders = [s.site_root for s in self.sources if isinstance(s, FolderSource)]
        self.watcher = PostWatcher(self.run_ingest, folders, settings.poll_seconds, clock=clock)
        self.announcer = Announcer(
            store,
            self,
            self.announcement_for,
            max_burst=settings.max_burst,
            poll_seconds=settings.poll_seconds,
            clock=clock,
        )
        self.watcher.listeners.append(lambda _report: self.announcer.wake())
        self.paginator_timeout = PAGINATOR_TIMEOUT
        if settings.api_base:
            # discord.py builds every REST URL from this class attribute.
            discord.http.Route.BASE = settings.api_base

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
        self.ingester.start()
        await self.run_ingest()
        await self.tree.set_translator(KijiTranslator())
        for module in cog_modules():
            await self.load_extension(module)
        await self.sync_commands_if_changed()
        self.watcher.start()
        self.announcer.start()
        await self._start_webhook()
        _settle_long_lived_objects()

    async def _start_webhook(self) -> None:
        """Listen for push webhooks when KIJI_WEBHOOK_SECRET is set; a port in use is logged, polling goes on."""
        if self.webhook_config is None:
            return
        webhook = PushWebhook(self.webhook_config, self.sources, self.fetch_now)
        try:
            await webhook.start()
        except OSError as exc:
            log.error(
                "the push webhook cannot listen on %s:%d (%s); new posts still arrive every %g s",
                self.webhook_config.host,
                self.webhook_config.port,
                exc.strerror or exc,
                self.settings.poll_seconds,
            )
            return
        self.webhook = webhook

    def fetch_now(self, source_name: str) -> None:
        """A push arrived for `source_name`: poll it now (even while it backs off) and announce what is new."""
        for source in self.sources:
            if source.name == source_name and (request := getattr(source, "request_poll", None)) is not None:
                request()
        self.watcher.wake()

    async def _ingest_in_its_process(self, site: Site, changes: Changes, source_id: int) -> IngestReport:
        return await self.ingester.ingest(site, changes, source_id, self.store.now())

    async def run_ingest(self) -> IngestReport:
        """Bring the store up to date with every source (start-up and the announcer share it).

        A source that cannot be read is logged and left as it was; the others still go in.
        """
        async with self.ingest_lock:
            run = self._ingest_in_its_process
            try:
                outcomes = await ingest_all(self.store, self.sources, load=self.settings.load_site, run=run)
            except BrokenProcessPool as exc:
                # A parse worker or the ingest process died (killed, out of memory): new ones take
                # over and the ingest runs again; the batches it had already stored stay.
                log.warning("%s; ingesting again", exc)
                outcomes = await ingest_all(self.store, self.sources, load=self.settings.load_site, run=run)
        for outcome in outcomes:
            if outcome.site is not None:
                self.sites[outcome.source.name] = outcome.site
            if outcome.error is not None:
                log.warning(
                    "could not update %s: %s; trying again at the next poll", outcome.source.display, outcome.error
                )
        self.site = next((self.sites[s.name] for s in self.sources if s.name in self.sites), None)
        report = merged(outcomes)
        self.last_outcomes = outcomes
        self.last_ingest = report
        for outcome in outcomes:  # each failure by its own source's file on disk
            for failure in outcome.report.failed if outcome.report else ():
                log.warning("%s", failed_post_line(outcome, failure.path, failure.error))
        self.dispatch("kiji_ingest", report)
        return report

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
        return await self.render_announcement(post, style, locale, role_id)

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
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        # The announcer finishes its delivery in flight first: only then may the connection
        # and the store go. The watcher stops before it, so no new round is started.
        try:
            await self.watcher.stop()
            await self.announcer.stop()
        except Exception:
            log.exception("stopping the post watcher or the announcer failed")
        for name in list(self.extensions):
            try:
                await self.unload_extension(name)
            except Exception:
                log.exception("unloading %s during shutdown failed", name)
        try:
            await super().close()
        finally:
            await self.ingester.stop()
            if self.llm is not None:
                await self.llm.close()
            await self.store.close()
            _thaw_long_lived_objects()


class StartFailed(RuntimeError):
    """`kiji run` cannot go on; the message says what to do. Never contains the token."""

    temporary = False


class DiscordUnavailable(StartFailed):
    """Discord could not be reached or answered with a server error: trying later may work."""

    temporary = True


REJECTED_TOKEN = (
    "Discord rejected the token (401 Unauthorized): it was reset or mistyped. Reset it at "
    "https://discord.com/developers/applications → your application → Bot → Reset Token, and put the new "
    "one in DISCORD_TOKEN in .env (or the environment)"
)
MISSING_INTENTS = (
    "Discord refused the gateway connection (4014): the bot asks for a privileged intent that is not enabled. "
    "Enable it at https://discord.com/developers/applications → your application → Bot → Privileged Gateway Intents"
)


class ShutdownSignal:
    """SIGINT/SIGTERM ask for a clean stop: the store's last batch commits or rolls back whole."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.signum: int | None = None
        self._installed: list[int] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Not on the main thread, or not supported by the platform: Ctrl-C still raises.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._received, signum)
                self._installed.append(signum)

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()

    def _received(self, signum: int) -> None:
        if self.requested.is_set():
            log.info("received %s again; already shutting down", signal.Signals(signum).name)
            return
        self.signum = signum
        self.requested.set()


async def run_bot(settings: Settings, *, force_sync: bool = False, sources: list[Source] | None = None) -> None:
    """Start the bot and serve until a signal stops it; a start that cannot work raises StartFailed."""
    assert settings.discord_token, "checked by the caller"
    try:
        webhook = WebhookConfig.from_environ(configured_environ())
    except WebhookConfigError as exc:
        raise StartFailed(str(exc)) from None
    bot = KijiBot(
        settings,
        Store(settings.db_path),
        client_from_settings(settings),
        force_sync=force_sync,
        sources=sources,
        webhook=webhook,
    )
    RunLog(bot).attach()
    shutdown = ShutdownSignal()
    shutdown.install()
    try:
        async with bot:
            await serve_until_stopped(bot, settings.discord_token, shutdown)
    except discord.LoginFailure:
        raise StartFailed(REJECTED_TOKEN) from None
    except discord.PrivilegedIntentsRequired:
        raise StartFailed(MISSING_INTENTS) from None
    except discord.DiscordServerError as exc:
        raise DiscordUnavailable(
            f"Discord answered {exc.status} {exc.response.reason or 'Server Error'}: it may be having an outage "
            "(https://discordstatus.com). Try again later"
        ) from None
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        # aiohttp's message names the host, never the token.
        where = settings.api_base or "discord.com"
        raise DiscordUnavailable(
            f"could not reach Discord ({where}): {exc or type(exc).__name__}; check the network "
            "(and DISCORD_API_BASE if you set it), then try again"
        ) from None
    finally:
        shutdown.remove()


async def serve_until_stopped(bot: KijiBot, token: str, shutdown: ShutdownSignal) -> None:
    """Run the bot until it ends by itself (raising what ended it) or `shutdown` is requested.

    On a signal the bot is closed first (the delivery in flight finishes, the store closes),
    then discord.py's connection loop is cancelled: it notices a close only when its current
    wait ends, and that may be a reconnect back-off of many minutes while Discord is
    unreachable, or a connection attempt of up to 60 s.
    """
    serving = asyncio.create_task(bot.start(token), name="kiji-discord")
    stop = asyncio.create_task(shutdown.requested.wait(), name="kiji-shutdown-signal")
    try:
        await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if serving.done():
        serving.result()
        return
    name = signal.Signals(shutdown.signum).name if shutdown.signum is not None else "a stop request"
    log.info("received %s; shutting down", name)
    try:
        await bot.close()
    finally:
        serving.cancel()
        try:
            await serving
        except asyncio.CancelledError:
            log.debug("stopped the Discord connection loop in its wait")
        except Exception as exc:  # the connection ending because we closed it is no news
            log.debug("the Discord connection ended while shutting down: %r", exc)
    log.info("shut down cleanly")


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


def cog_modules() -> list[str]:
    """Every cog module the bot loads: each public module of the `cogs` package."""
    return sorted(f"cogs.{m.name}" for m in pkgutil.iter_modules(cogs.__path__) if not m.name.startswith("_"))
