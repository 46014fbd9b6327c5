"""`kiji run`: start the bot from the settings, serve until a signal, stop cleanly; a start that cannot work says why.

Apart from the bot class (`bot.discord.client`): this is the process around it (signals, the
errors an operator can act on), which tests drive as a subprocess or through `run_bot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import aiohttp
import discord

from bot.discord.client import KijiBot, ShardedKijiBot, blog_sync, configured_sources
from bot.discord.run_log import RunLog
from bot.services.lease import SyncLease
from bot.services.llm import client_from_settings
from bot.services.webhooks import WebhookConfig, WebhookConfigError
from bot.settings import Settings, configured_environ
from bot.sources.base import Source
from bot.store import store_for

log = logging.getLogger(__name__)


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
        webhook = WebhookConfig.from_environ(configured_environ(dotenv_path=settings.env_file))
    except WebhookConfigError as exc:
        raise StartFailed(str(exc)) from None
    store = store_for(settings.store_url)
    chosen = sources if sources is not None else configured_sources(settings)
    sync = blog_sync(settings, store, chosen, webhook=webhook)
    bot_class = ShardedKijiBot if settings.shard_count is not None else KijiBot
    # On a shared (PostgreSQL) store one process at a time polls and announces: the sync lease decides which.
    lease = SyncLease(store, seconds=settings.lease_seconds) if store.location.path is None else None
    bot = bot_class(settings, store, client_from_settings(settings), force_sync=force_sync, sync=sync, lease=lease)
    if settings.shard_count is not None:
        shards = ",".join(map(str, settings.shard_ids or range(settings.shard_count)))
        log.info("running gateway shard(s) %s of %d", shards, settings.shard_count)
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
