"""What the bot sends on a schedule beside announcements: digests and notices, built for one bot.

Both share the announcer's pacer (the bot's one budget of requests per second) and the bot's
clock; the notices are woken after every sync of a blog, since its outcome may have started
or ended a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

import discord

from bot.discord.digests import DigestScheduler
from bot.discord.notices import NoticeSender
from bot.services.notices import NoticePlanner

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.discord.announcer import Pacer
    from bot.models import Post
    from bot.services.blogs import SourceOutcome
    from bot.settings import Settings
    from bot.store import KijiStore

log = logging.getLogger(__name__)


class _Paced(Protocol):
    @property
    def pacer(self) -> Pacer: ...


class _Synced(Protocol):
    @property
    def source_ids(self) -> Mapping[str, int]: ...

    @property
    def listeners(self) -> list[Callable[[SourceOutcome], None]]: ...


class ScheduledBot(Protocol):
    """What the scheduled senders need of the bot, besides being its Discord client.

    `KijiBot` has it, and imports this module (never the reverse).
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> KijiStore: ...

    @property
    def announcer(self) -> _Paced: ...

    @property
    def sync(self) -> _Synced: ...

    @property
    def timezone(self) -> ZoneInfo: ...

    async def summary_for(self, post: Post, length: str, locale: str | None) -> tuple[str, str]: ...


class _Senders(Protocol):
    @property
    def digests(self) -> DigestScheduler: ...

    @property
    def notices(self) -> NoticeSender: ...


def scheduled_senders(bot: ScheduledBot) -> tuple[DigestScheduler, NoticeSender]:
    """The bot's digest scheduler and notice sender, sharing its pacer and clock; the bot also sends their messages."""
    if not isinstance(bot, discord.Client):
        raise TypeError(f"scheduled senders send through a Discord client, not {type(bot).__name__}")
    settings, clock = bot.settings, bot.clock
    digests = DigestScheduler(
        bot.store,
        bot,
        bot.summary_for,
        lambda: bot.timezone,
        pacer=bot.announcer.pacer,
        max_burst=settings.max_burst,
        poll_seconds=settings.poll_seconds,
        clock=clock,
    )
    planner = NoticePlanner(
        bot.store, lambda: list(bot.sync.source_ids.values()), after_hours=settings.notice_after_hours
    )
    notices = NoticeSender(
        bot.store,
        bot,
        planner,
        lambda: bot.timezone,
        pacer=bot.announcer.pacer,
        poll_seconds=settings.poll_seconds,
        clock=clock,
    )
    bot.sync.listeners.append(lambda _outcome: notices.wake())
    return digests, notices


async def stop_scheduled(bot: _Senders) -> None:
    """Stop both, each letting a message in flight be sent and recorded; one failing does not keep the other."""
    for sender in (bot.digests, bot.notices):
        try:
            await sender.stop()
        except Exception:
            log.exception("stopping %s failed", type(sender).__name__)
