"""Notices in the channels: "this blog has not updated for hours, and why", then "it is back".

`bot.services.notices` plans them (from the store's record of each blog's failures) into the
notice ledger, pending; this sends them. Each goes out with a nonce derived from (blog, channel,
failure, kind), so a crash between Discord creating the message and the ledger recording it
returns the same message on the retry. The reason is said in the server's language (its
locale), as a kind of failure; the source's own words follow, small, for the admin.

Rounds run after every sync of a blog (its outcome may have crossed the threshold, or ended a
failure) and at the poll interval, on the injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

import aiohttp
import discord

from bot.clock import SYSTEM_CLOCK, Clock, wait_event
from bot.content import limits
from bot.discord.announcer import Pacer, channel_kind, missing_permissions
from bot.discord.i18n import format_date, t
from bot.discord.rounds import FindChannel, RoundTask, cached_channel
from bot.models import Notice
from bot.services.notices import NoticePlanner, failure_kind
from bot.store import Store

log = logging.getLogger(__name__)

DETAIL_CHARS = 300


def notice_text(notice: Notice, after_hours: float, tz: ZoneInfo, locale: str | None) -> str:
    """The notice in the reader's language; the source's error (English, as sources write it) below, small."""
    if notice.kind == "up":
        since = format_date(notice.failing_since, tz, locale)
        return t("notice.up", locale, blog=discord.utils.escape_markdown(notice.blog), since=since)
    hours = f"{after_hours:g}"
    why = t(f"why.{failure_kind(notice.reason)}", locale)
    text = t("notice.down", locale, blog=discord.utils.escape_markdown(notice.blog), hours=hours, why=why)
    if notice.reason:
        detail = limits.cut(limits.one_line(notice.reason), DETAIL_CHARS).replace("`", "ˋ")
        text += "\n-# " + t("notice.detail", locale, detail=f"`{detail}`")
    return limits.cut(text, limits.CONTENT)


class NoticeSender(RoundTask):
    """Plans and sends the notices of blogs that stop (and start again) updating."""

    task_name = "kiji-notices"

    def __init__(
        self,
        store: Store,
        client: discord.Client,
        planner: NoticePlanner,
        blog_timezone: Callable[[], ZoneInfo],
        *,
        pacer: Pacer,
        poll_seconds: float,
        clock: Clock = SYSTEM_CLOCK,
        find_channel: FindChannel | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.find_channel = find_channel or cached_channel(client)
        self.planner = planner
        self.blog_timezone = blog_timezone
        self.pacer = pacer
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.rounds = 0
        super().__init__()

    async def _run(self) -> None:
        await self.client.wait_until_ready()
        while not self.client.is_closed() and not self._stopping:
            self._wake.clear()
            try:
                await self.run_round()
            except Exception:
                log.exception("notice round failed; trying again at the next poll")
            await wait_event(self.clock, self._wake, self.poll_seconds)

    async def run_round(self) -> None:
        """Queue the notices that came due, then send every pending one."""
        async with self._lock:
            await self.planner.plan()
            for notice in await self.store.notices("pending"):
                if self._stopping:
                    break
                try:
                    await self._send(notice)
                except Exception:
                    log.exception("sending notice %d failed unexpectedly", notice.id)
            self.rounds += 1
            self.client.dispatch("kiji_notice_round", self.rounds)

    async def _send(self, notice: Notice) -> None:
        channel = await self.find_channel(notice.guild_id, notice.channel_id)
        kind = channel_kind(channel) if channel is not None else None
        guild = getattr(channel, "guild", None)
        if channel is None or guild is None or kind not in ("text", "news"):
            await self._skip(notice, "the channel is gone or cannot carry messages")
            return
        missing = missing_permissions(channel, guild.me, kind)  # type: ignore[arg-type]
        if missing:
            await self._skip(notice, f"missing {', '.join(missing)}")
            return
        assert isinstance(channel, discord.TextChannel)
        text = notice_text(
            notice, self.planner.after_seconds / 3600.0, self.blog_timezone(), str(guild.preferred_locale)
        )
        try:
            await self.pacer.wait()
            sent = await channel.send(text, nonce=notice.nonce, allowed_mentions=discord.AllowedMentions.none())
        except (discord.Forbidden, discord.NotFound) as exc:
            await self._skip(notice, f"Discord refused: {exc.text or exc.status} ({exc.status})")
            return
        except discord.HTTPException as exc:
            if 400 <= exc.status < 500 and exc.status not in (408, 429):
                await self._skip(notice, f"Discord refused: {exc.text or exc.status} ({exc.status})")
                return
            await self.store.record_notice_attempt(notice.id, f"{type(exc).__name__}: {exc}")
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self.store.record_notice_attempt(notice.id, f"{type(exc).__name__}: {exc}")
            return
        await self.store.mark_notice_sent(notice.id, sent.id)
        log.info(
            "told channel %d that %s %s",
            notice.channel_id,
            notice.blog,
            "stopped updating" if notice.kind == "down" else "updates again",
        )

    async def _skip(self, notice: Notice, reason: str) -> None:
        log.warning("not sending the notice about %s to channel %d: %s", notice.blog, notice.channel_id, reason)
        await self.store.skip_notice(notice.id, reason)
