"""What the demo page shows of announcements beyond the channels: each layout of a post, and a digest's hour.

The layout preview goes through `KijiBot.render_announcement`, strictly — the renderer the announcer sends
with and `/subscribe`'s preview checks with — so the page shows exactly the body Discord would get, or the
reason the template would be refused. A digest needs its hour to come; instead of waiting for it, the demo's
bot runs on a `DemoClock`, the real time plus an offset the page can move forward: the digest scheduler,
woken, then finds the period ended and sends the digest into the channel as it would at that hour.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from bot.content.templates import TemplateError
from bot.discord.announcement import LAYOUTS, AnnouncementStyle
from bot.discord.client import KijiBot
from bot.discord.digests import AFTER_END_S, next_period_end
from bot.models import Post

POSTS_OFFERED = 20


class ShowcaseError(Exception):
    """What the page asked for cannot be shown; the message says why."""


class DemoClock:
    """The real time, moved forward when the page asks; monotonic time and sleeps stay real.

    Only wall time moves, so the pacer's rate limit (monotonic) is untouched, and a scheduler
    sleeping towards a wall-clock deadline is woken by the caller after a move.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def move_to(self, wall: float) -> None:
        """Make `wall` now (never backwards: the ledgers' times only grow)."""
        self.offset = max(self.offset, wall - time.time())


async def _chosen_post(bot: KijiBot, post_id: Any, newest: list[Post]) -> Post:
    if post_id in (None, ""):
        if not newest:
            raise ShowcaseError("the blog has no post to show yet")
        return newest[0]
    try:
        wanted = int(post_id)
    except (TypeError, ValueError):
        raise ShowcaseError(f"post must be a post's id (a number), not {post_id!r}") from None
    post = await bot.store.get_post(wanted)
    if post is None:
        raise ShowcaseError(f"no post with id {wanted}")
    return post


async def layout_previews(bot: KijiBot, post_id: Any, template: str | None, locale: str) -> dict[str, Any]:
    """The post (default: the newest) in every layout with `template`: each the create-message body, or why not."""
    newest = await bot.store.latest(POSTS_OFFERED, now=bot.clock.time())
    post = await _chosen_post(bot, post_id, newest)
    layouts: dict[str, dict[str, Any]] = {}
    for layout in LAYOUTS:
        try:
            style = AnnouncementStyle.of(layout, template or None)
            announcement = await bot.render_announcement(post, style, locale, None, strict=True)
        except TemplateError as exc:
            layouts[layout] = {"error": str(exc)}
        else:
            layouts[layout] = {"body": announcement.payload()}
    return {
        "post": {"id": str(post.id), "title": post.title},
        "posts": [{"id": str(p.id), "title": p.title} for p in newest],
        "layouts": layouts,
    }


async def move_to_next_digest(bot: KijiBot, clock: DemoClock, guild_id: int) -> dict[str, Any]:
    """Move the clock just past the next digest hour of the server's digest subscriptions, and wake the scheduler."""
    now = clock.time()
    digests = [s for s in await bot.store.subscriptions(guild_id) if s.digest != "off" and s.active]
    if not digests:
        raise ShowcaseError("no channel takes a digest yet: /subscribe a channel with digest Daily or Weekly first")
    ends = {
        s.id: next_period_end(now, s.digest, s.digest_hour, s.digest_weekday, bot.digests.timezone_of(s))
        for s in digests
    }
    subscription = min(digests, key=lambda s: ends[s.id])
    end = ends[subscription.id]
    clock.move_to(end + AFTER_END_S)
    bot.digests.wake()
    shown = datetime.fromtimestamp(clock.time(), bot.digests.timezone_of(subscription))
    return {"now": shown.isoformat(timespec="seconds"), "channel_id": str(subscription.channel_id)}
