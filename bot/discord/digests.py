"""Digests: a subscription's new posts collected into one message a day or a week.

A digest subscription's posts are queued in the delivery ledger as they become news, like
every subscription's (the announcer leaves them: `pending_deliveries`). When the period ends —
at `digest_hour` in the subscription's time zone, every day or on `digest_weekday` — the
scheduler renders one message listing them (the title as a link, a one-line summary), split
into several only where Discord's limits force it, and records it in the digest ledger
*before* sending, claiming the posts it lists (`bot.store.digests`). Each part is sent with a
nonce derived from (subscription, period, part), so a crash between Discord creating a part
and the ledger recording it returns the same message on the retry instead of posting it
twice; a period with no post records itself as empty and sends nothing.

The scheduler sleeps on the injected clock until the next period ends (or the poll interval),
so a test moves time on instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import discord

from bot.clock import SYSTEM_CLOCK, Clock
from bot.content import limits
from bot.discord.announcer import INVALID_FORM_BODY, Pacer, channel_kind, missing_permissions
from bot.discord.i18n import pause_reason, t, weekday_name
from bot.discord.rounds import FindChannel, RoundTask, cached_channel
from bot.discord.ui import EMBED_COLOUR, escape_link_text, fits_link
from bot.models import Digest, Post, Subscription
from bot.store import Store
from bot.store.digests import digest_nonce

log = logging.getLogger(__name__)

DIGEST_KINDS = ("off", "daily", "weekly")
# A post's line: its summary's first words, so a week of posts stays a list, not an article.
SUMMARY_CHARS = 160
TITLE_CHARS = 200
EMBEDS_PER_MESSAGE = 10
# The scheduler looks again a second after a period ends: the end itself belongs to the period.
AFTER_END_S = 1.0

# (summary text, where it came from) of a post, for a length and a locale (KijiBot.summary_for).
Summarize = Callable[[Post, str, str | None], Awaitable[tuple[str, str]]]


def period_ending(now: float, kind: str, hour: int, weekday: int, tz: ZoneInfo) -> tuple[float, float]:
    """(start, end) of the latest daily or weekly period that ended at or before `now`.

    Periods are counted in local wall time, so a day across a daylight-saving change is the
    23 or 25 hours between two 9:00s, not 24 hours from one of them.
    """
    local = datetime.fromtimestamp(now, tz)
    length = 7 if kind == "weekly" else 1
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7 if kind == "weekly" else 0)
    end = datetime(day.year, day.month, day.day, hour, tzinfo=tz)
    if end.timestamp() > now:
        day -= timedelta(days=length)
        end = datetime(day.year, day.month, day.day, hour, tzinfo=tz)
    before = day - timedelta(days=length)
    start = datetime(before.year, before.month, before.day, hour, tzinfo=tz)
    return start.timestamp(), end.timestamp()


def next_period_end(now: float, kind: str, hour: int, weekday: int, tz: ZoneInfo) -> float:
    """When the period running at `now` ends."""
    _, end = period_ending(now, kind, hour, weekday, tz)
    day = datetime.fromtimestamp(end, tz).date() + timedelta(days=7 if kind == "weekly" else 1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=tz).timestamp()


def describe_schedule(subscription: Subscription, tz: ZoneInfo, locale: str | None) -> str:
    """ "every day at 9:00 (Asia/Tokyo)" in the reader's language."""
    zone = str(tz.key)
    if subscription.digest == "weekly":
        weekday = weekday_name(subscription.digest_weekday, locale)
        return t("digest.every_week", locale, weekday=weekday, hour=subscription.digest_hour, zone=zone)
    return t("digest.every_day", locale, hour=subscription.digest_hour, zone=zone)


def post_line(post: Post, summary: str) -> str:
    """One post in a digest: its title as a link (when Discord takes the link) and a one-line summary."""
    title = escape_link_text(limits.cut(limits.one_line(post.title), TITLE_CHARS))
    line = f"**[{title}]({post.abs_url})**" if fits_link(post.abs_url, limits.LIST_LINK) else f"**{title}**"
    gist = limits.cut(limits.one_line(summary), SUMMARY_CHARS)
    return f"{line}\n{discord.utils.escape_mentions(gist)}" if gist else line


def pack(heading: str, lines: Sequence[str], role_id: int | None) -> list[dict[str, Any]]:
    """The digest's messages: as few as Discord's limits allow.

    An embed's description holds up to 4,096 characters, a message up to ten embeds and 6,000
    characters across them; a new embed, then a new message, starts only when the next line
    would not fit. Only the first message carries the heading and the role mention.
    """
    messages: list[list[list[str]]] = [[[]]]
    used = len(heading)  # characters of the current message's embeds
    for line in lines:
        embeds = messages[-1]
        description = "\n\n".join(embeds[-1])
        added = len(line) + (2 if embeds[-1] else 0)
        if len(description) + added <= limits.EMBED_DESCRIPTION and used + added <= limits.EMBED_TOTAL:
            embeds[-1].append(line)
            used += added
        elif len(embeds) < EMBEDS_PER_MESSAGE and used + len(line) <= limits.EMBED_TOTAL:
            embeds.append([line])
            used += len(line)
        else:
            messages.append([[line]])
            used = len(line)
    parts: list[dict[str, Any]] = []
    for number, embeds in enumerate(messages):
        bodies = []
        for index, entries in enumerate(embeds):
            body: dict[str, Any] = {"description": "\n\n".join(entries), "color": EMBED_COLOUR.value}
            if number == 0 and index == 0:
                body["title"] = heading
            bodies.append(body)
        first = number == 0 and role_id is not None
        parts.append({"content": f"<@&{role_id}>" if first else None, "embeds": bodies, "role_id": role_id})
    return parts


async def wait_event_until(clock: Clock, event: asyncio.Event, deadline: float) -> bool:
    """Wait until `event` is set or the clock's wall time reaches `deadline`; True when the event was set.

    The time left is read in the same step as the clock's sleep is taken, so a clock moved on
    meanwhile (a test's ManualClock) cannot stretch the wait past the deadline.
    """

    async def until_deadline() -> None:
        await clock.sleep(max(0.0, deadline - clock.time()))

    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    timer = asyncio.ensure_future(until_deadline())
    try:
        await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, timer):
            task.cancel()
        await asyncio.gather(waiter, timer, return_exceptions=True)
    return event.is_set()


class DigestScheduler(RoundTask):
    """Opens each digest subscription's period when it ends, and sends what is pending."""

    task_name = "kiji-digests"

    def __init__(
        self,
        store: Store,
        client: discord.Client,
        summarize: Summarize,
        blog_timezone: Callable[[], ZoneInfo],
        *,
        pacer: Pacer,
        max_burst: int,
        poll_seconds: float,
        clock: Clock = SYSTEM_CLOCK,
        find_channel: FindChannel | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.find_channel = find_channel or cached_channel(client)
        self.summarize = summarize
        self.blog_timezone = blog_timezone
        self.pacer = pacer
        self.max_burst = max_burst
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.rounds = 0
        super().__init__()
        self._looked_at = clock.time()  # the wall time the last round opened periods at

    def timezone_of(self, subscription: Subscription) -> ZoneInfo:
        return ZoneInfo(subscription.timezone) if subscription.timezone else self.blog_timezone()

    async def _run(self) -> None:
        await self.client.wait_until_ready()
        while not self.client.is_closed() and not self._stopping:
            self._wake.clear()
            try:
                await self.run_round()
            except Exception:
                log.exception("digest round failed; trying again at the next period or poll")
            try:
                deadline = await self._next_look()
            except Exception:
                log.exception("could not work out when the next digest is due; looking again at the next poll")
                deadline = self._looked_at + self.poll_seconds
            await wait_event_until(self.clock, self._wake, deadline)

    async def _next_look(self) -> float:
        """When to look again (wall time): the first period end after the last round looked, or the poll.

        Counted from when the round looked, not from now: time that moved on during the round
        (a test's clock, a slow send) makes the deadline already past, and the next round runs at once.
        """
        looked = self._looked_at
        ends = [
            next_period_end(looked, s.digest, s.digest_hour, s.digest_weekday, self.timezone_of(s))
            for s in await self.store.subscriptions()
            if s.digest != "off"
        ]
        return min([looked + self.poll_seconds, *(end + AFTER_END_S for end in ends)])

    async def run_round(self) -> None:
        """Open the digests whose period ended, then send every pending one."""
        async with self._lock:
            now = self._looked_at = self.clock.time()
            await self.store.enqueue_new_posts(self.max_burst)
            for subscription in await self.store.subscriptions():
                if subscription.digest == "off" or not subscription.active:
                    continue
                try:
                    await self._open_due(subscription, now)
                except Exception:
                    log.exception("could not make the digest of subscription %d", subscription.id)
            for digest in await self.store.pending_digests():
                if self._stopping:
                    break
                try:
                    await self._send(digest)
                except Exception:
                    log.exception("sending digest %d failed unexpectedly", digest.id)
            self.rounds += 1
            self.client.dispatch("kiji_digest_round", self.rounds)

    async def _open_due(self, subscription: Subscription, now: float) -> None:
        tz = self.timezone_of(subscription)
        kind, hour, weekday = subscription.digest, subscription.digest_hour, subscription.digest_weekday
        start, end = period_ending(now, kind, hour, weekday, tz)
        if end <= subscription.created_at or await self.store.digest_for_period(subscription.id, start):
            return  # its first period is still running, or this one is done
        queued = await self.store.queued_for_digest(subscription.id)
        posts = {p.id: p for p in await self.store.posts_by_ids([d.post_id for d in queued if d.post_id])}
        listed: list[tuple[int, Post]] = []
        for delivery in queued:
            post = posts.get(delivery.post_id or -1)
            if post is None:
                await self.store.mark_skipped(delivery.id, "post removed before its digest")
            elif not await self.store.still_matches(subscription.id, post.id):
                await self.store.mark_skipped(delivery.id, "no longer matches the subscription's filters")
            elif not post.scheduled(now):  # re-dated into the future: a later digest lists it
                listed.append((delivery.id, post))
        parts = await self._render(subscription, [post for _, post in listed], tz, end) if listed else []
        digest = await self.store.open_digest(subscription.id, (start, end), parts, [d for d, _ in listed])
        if digest is not None:
            log.info(
                "subscription %d: %s digest to %s lists %d posts in %d messages",
                subscription.id,
                kind,
                datetime.fromtimestamp(end, tz).isoformat(),
                len(listed),
                len(parts),
            )

    async def _render(
        self, subscription: Subscription, posts: Sequence[Post], tz: ZoneInfo, end: float
    ) -> list[dict[str, Any]]:
        channel = await self.find_channel(subscription.guild_id, subscription.channel_id)
        guild = getattr(channel, "guild", None)
        locale = str(guild.preferred_locale) if guild is not None else None
        last_day = datetime.fromtimestamp(end, tz) - timedelta(seconds=1)
        date = last_day.strftime("%Y-%m-%d")
        heading = t("digest.weekly" if subscription.digest == "weekly" else "digest.daily", locale, date=date)
        heading = limits.cut(f"{heading} · {t('digest.count', locale, count=len(posts))}", limits.EMBED_TITLE)
        lines = [post_line(post, (await self.summarize(post, "short", locale))[0]) for post in posts]
        role = guild.get_role(subscription.mention_role_id) if guild and subscription.mention_role_id else None
        return pack(heading, lines, role.id if role else None)

    async def _send(self, digest: Digest) -> None:
        channel = await self.find_channel(digest.guild_id, digest.channel_id)
        kind = channel_kind(channel) if channel is not None else None
        guild = getattr(channel, "guild", None)
        if channel is None or guild is None:
            await self._pause(digest, pause_reason("pause.channel_gone"))
            return
        if kind not in ("text", "news"):
            await self._pause(digest, pause_reason("pause.wrong_kind"))
            return
        missing = missing_permissions(channel, guild.me, kind)  # type: ignore[arg-type]
        if missing:
            await self._pause(digest, pause_reason("pause.missing", names=missing))
            return
        assert isinstance(channel, discord.TextChannel)
        try:
            for part in range(len(digest.message_ids), len(digest.parts)):
                message = await self._send_part(channel, digest, part)
                await self.store.record_digest_part(digest.id, part, message.id)
        except discord.Forbidden as exc:
            await self._pause(digest, pause_reason("pause.refused", text=exc.text or "Missing Access", status=403))
            return
        except discord.NotFound:
            await self._pause(digest, pause_reason("pause.not_found"))
            return
        except discord.HTTPException as exc:
            if exc.code == INVALID_FORM_BODY or exc.status == 413:
                reason = f"Discord refused the digest: {exc.text or 'Invalid Form Body'} ({exc.status})"
                log.warning("digest %d for channel %d: %s", digest.id, digest.channel_id, reason)
                await self.store.skip_digest(digest.id, reason)
                return
            await self.store.record_digest_attempt(digest.id, f"{type(exc).__name__}: {exc}")
            log.warning("could not send digest %d (%s); trying again next round", digest.id, exc)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self.store.record_digest_attempt(digest.id, f"{type(exc).__name__}: {exc}")
            log.warning("could not send digest %d (%s); trying again next round", digest.id, exc)
            return
        await self.store.finish_digest(digest.id)
        log.info("sent digest %d to channel %d in %d messages", digest.id, digest.channel_id, len(digest.parts))

    async def _send_part(self, channel: discord.TextChannel, digest: Digest, part: int) -> discord.Message:
        body = digest.parts[part]
        role_id = body.get("role_id")
        mentions = discord.AllowedMentions(
            everyone=False,
            users=False,
            roles=[discord.Object(int(role_id))] if role_id else False,  # type: ignore[call-overload]
        )
        embeds = [discord.Embed.from_dict(embed) for embed in body.get("embeds") or []]  # type: ignore[attr-defined]
        await self.pacer.wait()  # the one pacer the announcer uses: the bot stays under Discord's global limit
        return await channel.send(
            content=body.get("content") or None,  # type: ignore[arg-type]
            embeds=embeds,
            nonce=digest_nonce(digest.subscription_id, digest.period_start, part),
            allowed_mentions=mentions,
        )

    async def _pause(self, digest: Digest, reason: str) -> None:
        log.warning("pausing subscription %d: %s (while sending its digest)", digest.subscription_id, reason)
        await self.store.pause_subscription(digest.subscription_id, reason)
