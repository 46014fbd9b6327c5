"""What the bot sends on a schedule beside announcements: digests and notices, built for one bot.

Both share the announcer's pacer (the bot's one budget of requests per second) and the bot's
clock; the notices are woken after every sync of a blog, since its outcome may have started
or ended a failure.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.discord.digests import DigestScheduler
from bot.discord.notices import NoticeSender
from bot.services.notices import NoticePlanner

if TYPE_CHECKING:
    from bot.discord.client import KijiBot

log = logging.getLogger(__name__)


def scheduled_senders(bot: KijiBot) -> tuple[DigestScheduler, NoticeSender]:
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


async def stop_scheduled(bot: KijiBot) -> None:
    """Stop both, each letting a message in flight be sent and recorded; one failing does not keep the other."""
    for sender in (bot.digests, bot.notices):
        try:
            await sender.stop()
        except Exception:
            log.exception("stopping %s failed", type(sender).__name__)
