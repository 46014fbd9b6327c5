"""The Discord bot: one class wired from settings and a store, as in discord.py's advanced start-up.

`setup_hook` connects and migrates the store, starts the process pool that parses posts,
ingests the posts, loads every cog in `cogs/`, syncs slash commands only when the command
tree differs from the one last synced (its hash is kept in the store), and starts the post
watcher and the announcer. Syncing in `on_ready` would hit Discord's command rate limits on
every reconnect; syncing never would leave users with stale commands.

The watcher and the announcer belong to the bot, not to a cog: unloading or reloading
`cogs.announcements` changes the commands, never whether new posts are stored and announced.
Parsing runs in the bot's own pool (forkserver, workers that die with the bot), so a hostile
post that is slow to clean delays nothing but its own ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import pkgutil
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

import cogs
from bot import __version__
from bot.clock import SYSTEM_CLOCK, Clock
from bot.discord import limits
from bot.discord.announcer import Announcer
from bot.discord.i18n import COMMAND_TEXT_JA, t
from bot.discord.ui import PAGINATOR_TIMEOUT, post_embed
from bot.models import Post
from bot.services.ingest import IngestReport, ingest, worker_pool
from bot.services.llm import PROMPT_VERSION, LLMClient, LLMConfig, LLMError
from bot.services.post_watcher import PostWatcher
from bot.services.singleflight import SingleFlight
from bot.services.summaries import shown_summary
from bot.settings import Settings
from bot.sources.site_config import Site
from bot.store import Store

log = logging.getLogger(__name__)

COMMAND_HASH_KEY = "command_tree_hash:{application}:{scope}"


class KijiTranslator(app_commands.Translator):
    """Japanese command names and descriptions; en-US gets the English defaults as they are."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if locale is discord.Locale.japanese:
            return COMMAND_TEXT_JA.get(string.message)
        if locale is discord.Locale.american_english:
            return string.message
        return None


class KijiTree(app_commands.CommandTree["KijiBot"]):
    """The one error path: log with the traceback, tell the user briefly, never leave them hanging."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            message = t("missing_permissions", interaction.locale)
        elif isinstance(error, app_commands.NoPrivateMessage):
            message = t("guild_only", interaction.locale)
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
    """Serves the posts of one blog. Receives its settings and (unconnected) store."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        force_sync: bool = False,
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
        self.force_sync = force_sync
        self.site: Site | None = None
        self.last_ingest: IngestReport | None = None
        self.version = __version__
        self.ingest_lock = asyncio.Lock()
        self.clock = clock
        self.parse_pool: ProcessPoolExecutor | None = None
        self.watcher = PostWatcher(self.run_ingest, settings.source_dir, settings.poll_seconds, clock=clock)
        self.announcer = Announcer(
            store,
            self,
            self.announcement_embed,
            max_burst=settings.max_burst,
            poll_seconds=settings.poll_seconds,
            clock=clock,
        )
        self.watcher.listeners.append(lambda _report: self.announcer.wake())
        self.paginator_timeout = PAGINATOR_TIMEOUT
        self.llm: LLMClient | None = None
        self._llm_locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._summary_flights = SingleFlight()  # a fan-out summarises a new post once, not per channel
        if settings.llm_base_url and settings.llm_model:
            self.llm = LLMClient(
                LLMConfig(
                    settings.llm_base_url,
                    settings.llm_model,
                    settings.llm_api_key,
                    settings.llm_timeout,
                    settings.llm_prompt_chars,
                )
            )
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
        self.site = await asyncio.to_thread(self.settings.load_site)
        self._start_parse_pool()
        await self.run_ingest()
        await self.tree.set_translator(KijiTranslator())
        for module in cog_modules():
            await self.load_extension(module)
        await self.sync_commands_if_changed()
        self.watcher.start()
        self.announcer.start()

    def _start_parse_pool(self) -> None:
        """A new parse pool, warmed: its forkserver and a first worker start now, not at the next post."""
        self.parse_pool = worker_pool(os.cpu_count() or 1)
        self.parse_pool.submit(os.getpid)

    async def run_ingest(self) -> IngestReport:
        """Bring the store up to date with the posts folder (start-up and the watcher share it)."""
        assert self.site is not None
        async with self.ingest_lock:
            try:
                report = await ingest(self.store, self.site, executor=self.parse_pool)
            except BrokenProcessPool:
                # A worker died (killed, out of memory): the pool is unusable from now on, so
                # a new one takes over and the ingest runs again; its batches already stored stay.
                log.warning("a parse worker died; starting a new pool and ingesting again")
                if self.parse_pool is not None:
                    self.parse_pool.shutdown(wait=False, cancel_futures=True)
                self._start_parse_pool()
                report = await ingest(self.store, self.site, executor=self.parse_pool)
        self.last_ingest = report
        for failure in report.failed:
            log.warning("post not loaded: %s: %s", failure.path, failure.error)
        self.dispatch("kiji_ingest", report)
        return report

    async def summary_for(self, post: Post, length: str, locale: str | None) -> tuple[str, str]:
        """(summary text, footer saying where it came from) for embeds and announcements.

        With a language model configured, its cached answer for this content is used, or it
        is asked (callers defer first: it may take seconds); any failure falls back to the
        stored extractive summary, and the footer says so.
        """
        fallback_note = False
        if self.llm is not None:
            model = self.llm.config.model
            # One question per post and length at a time: a fan-out to many channels asks once
            # and the others read the cached answer.
            async with self._llm_locks.setdefault((post.id, length), asyncio.Lock()):
                cached = await self.store.get_summary(post.id, length, source=self.llm.source)
                if cached:
                    return limits.cut(cached[0], limits.EMBED_DESCRIPTION), t("summary_source.llm", locale, model=model)
                try:
                    answer = await self.llm.summarize(post.title, await self.store.get_text(post.id) or "", length)
                except LLMError as exc:
                    log.warning("language model summary of post %d failed: %s; using the extractive one", post.id, exc)
                    fallback_note = True
                else:
                    await self.store.put_summaries(post.id, self.llm.source, PROMPT_VERSION, {length: [answer]})
                    return answer, t("summary_source.llm", locale, model=model)
        shown = await shown_summary(self.store, post, length, self._summary_flights)
        text = limits.cut(shown.text, limits.EMBED_DESCRIPTION) if shown.text else t("no_summary", locale)
        source = "summary_source.llm_fallback" if fallback_note else shown.source
        return text, t(source, locale)

    async def announcement_embed(self, post: Post, locale: str) -> discord.Embed:
        """A new post as the server sees it announced: in the server's language and the site's time zone."""
        summary, footer = await self.summary_for(post, "standard", locale)
        return post_embed(post, summary, footer, tz=self.timezone, locale=locale)

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
        if not self.force_sync and await self.store.get_meta(key) == digest:
            log.info("command tree unchanged since the last sync; not syncing")
            return False
        synced = await self.tree.sync(guild=guild)
        await self.store.set_meta(key, digest)
        log.info("synced %d commands %s", len(synced), f"to guild {guild.id}" if guild else "globally")
        return True

    async def close(self) -> None:
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
            if self.parse_pool is not None:
                self.parse_pool.shutdown(wait=False, cancel_futures=True)
                self.parse_pool = None
            if self.llm is not None:
                await self.llm.close()
            await self.store.close()


def install_signal_handlers(bot: KijiBot) -> None:
    """SIGINT/SIGTERM close the bot cleanly: the store's last batch commits or rolls back whole."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not on the main thread, or not supported by the platform: Ctrl-C still raises.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, lambda s=signum: asyncio.ensure_future(_shutdown(bot, s)))


async def _shutdown(bot: KijiBot, signum: int) -> None:
    log.info("received %s; shutting down", signal.Signals(signum).name)
    await bot.close()


async def run_bot(settings: Settings, *, force_sync: bool = False) -> None:
    """Start the bot and serve until it is closed (by a signal or an error)."""
    assert settings.discord_token, "checked by the caller"
    bot = KijiBot(settings, Store(settings.db_path), force_sync=force_sync)
    install_signal_handlers(bot)
    try:
        async with bot:
            await bot.start(settings.discord_token)
    except (aiohttp.ClientConnectorError, discord.LoginFailure) as exc:
        # Never echo the token: these messages come from discord.py and aiohttp, not the settings.
        raise RuntimeError(f"could not connect to Discord: {exc}") from None


def cog_modules() -> list[str]:
    """Every cog module the bot loads: each public module of the `cogs` package."""
    return sorted(f"cogs.{m.name}" for m in pkgutil.iter_modules(cogs.__path__) if not m.name.startswith("_"))
