"""What the bot sends on a schedule beside announcements: digests and notices, built for one bot.

Both share the announcer's pacer (the bot's one budget of requests per second) and the bot's
clock; the notices are woken after every sync of a blog, since its outcome may have started
or ended a failure.
"""

from __future__ import annotations

import logging
from typing import Protocol
from zoneinfo import ZoneInfo

import discord

from bot.clock import Clock
from bot.discord.announcer import Announcer
from bot.discord.digests import DigestScheduler
from bot.discord.notices import NoticeSender
from bot.models import Post
from bot.services.notices import NoticePlanner
from bot.services.sync import BlogSync
from bot.settings import Settings
from bot.store import KijiStore

log = logging.getLogger(__name__)


class ScheduledBot(Protocol):
    """What the scheduled senders are built from: the bot (`bot.discord.client.KijiBot`), which imports this."""

    settings: Settings
    clock: Clock
    store: KijiStore
    announcer: Announcer
    sync: BlogSync
    digests: DigestScheduler
    notices: NoticeSender

    @property
    def timezone(self) -> ZoneInfo: ...
    async def summary_for(self, post: Post, length: str, locale: str | None) -> tuple[str, str]: ...
    async def channel_for(self, guild_id: int, channel_id: int) -> object | None: ...


def scheduled_senders(bot: ScheduledBot, client: discord.Client) -> tuple[DigestScheduler, NoticeSender]:
    settings, clock = bot.settings, bot.clock
    digests = DigestScheduler(
        bot.store,
        client,
        bot.summary_for,
        lambda: bot.timezone,
        pacer=bot.announcer.pacer,
        max_burst=settings.max_burst,
        poll_seconds=settings.poll_seconds,
        clock=clock,
        find_channel=bot.channel_for,
    )
    planner = NoticePlanner(
        bot.store, lambda: list(bot.sync.source_ids.values()), after_hours=settings.notice_after_hours
    )
    notices = NoticeSender(
        bot.store,
        client,
        planner,
        lambda: bot.timezone,
        pacer=bot.announcer.pacer,
        poll_seconds=settings.poll_seconds,
        clock=clock,
        find_channel=bot.channel_for,
    )
    bot.sync.listeners.append(lambda _outcome: notices.wake())
    return digests, notices


async def stop_scheduled(bot: ScheduledBot) -> None:
    """Stop both, each letting a message in flight be sent and recorded; one failing does not keep the other."""
    for sender in (bot.digests, bot.notices):
        try:
            await sender.stop()
        except Exception:
            log.exception("stopping %s failed", type(sender).__name__)
