"""Announcements: queue new posts per subscription, deliver them exactly once.

The bot's post watcher (`bot.services.post_watcher`) keeps the store up to date and wakes
the announcer after each check; the announcer never reads the posts folder itself.

The delivery ledger in the store is the source of truth. A (post, subscription) pair is
written as *pending* before anything is sent and marked *sent* with Discord's message id
afterwards; the send carries a nonce derived from the pair with `enforce_nonce`, so if the
process dies between Discord creating the message and the ledger recording it, the retry
returns the existing message instead of posting a second one. Forum threads take no
nonce: before opening one, the announcer looks among the forum's active threads (cached,
no request) for one it opened for the same delivery (see `Announcer._earlier_thread`).
Pending rows are simply picked up again after a restart.

Per channel, posts go out oldest first and one at a time; channels are served in
parallel behind one pacer that keeps the whole bot under Discord's global limit of 50
requests per second, so a big fan-out never collects 429s (which count towards the
invalid-request limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Protocol
from zoneinfo import ZoneInfo

import aiohttp
import discord

from bot.clock import SYSTEM_CLOCK, Clock, wait_event
from bot.content import limits
from bot.content.textnorm import normalize_key
from bot.discord.announcement import Announcement
from bot.discord.i18n import format_date, pause_reason, pause_reason_in, t
from bot.discord.webhook_delivery import BlogSender
from bot.models import Delivery, Post, Subscription

log = logging.getLogger(__name__)

# Stay a little under Discord's global 50 requests/s so timing jitter never tips us over.
GLOBAL_REQUESTS_PER_SECOND = 48.0
# Channels served at once; each channel itself is strictly sequential (oldest post first).
CHANNEL_CONCURRENCY = 64
# A delivery that keeps failing with server errors waits this long (doubling) between rounds.
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0
# Discord's "Invalid Form Body": something in this one post's message (a field too long, a URL
# Discord will not take) that no other post shares. Skipped, not a reason to pause the channel.
INVALID_FORM_BODY = 50035
# Discord's "a thread has already been created for this message": a retry found the thread there.
THREAD_ALREADY_CREATED = 160004
MAX_FORUM_TAGS = 5


class Outcome(Enum):
    """What became of one delivery attempt; the channel goes on only after the first three."""

    SENT = "sent"
    SKIPPED = "skipped"  # recorded as skipped (removed, filtered out, or refused for its content)
    NOT_DUE = "not due"  # re-dated into the future: waits for its date, the ones after it need not
    PAUSED = "paused"  # the subscription needs an admin
    RETRY = "retry"  # a passing failure: the channel backs off and tries again

    @property
    def channel_goes_on(self) -> bool:
        return self in (Outcome.SENT, Outcome.SKIPPED, Outcome.NOT_DUE)


class AnnouncementLedger(Protocol):
    """The part of the store the announcer uses: subscriptions and the delivery ledger."""

    async def enqueue_new_posts(self, max_burst: int) -> dict[int, tuple[int, int]]: ...
    async def pending_deliveries(self) -> list[Delivery]: ...
    async def subscriptions(self) -> list[Subscription]: ...
    async def get_post(self, post_id: int) -> Post | None: ...
    async def still_matches(self, subscription_id: int, post_id: int) -> bool: ...
    async def deliveries(self, *, channel_id: int) -> list[Delivery]: ...
    async def mark_sent(self, delivery: Delivery, message_id: int) -> None: ...
    async def mark_skipped(self, delivery_id: int, reason: str) -> None: ...
    async def record_attempt(self, delivery_id: int, error: str) -> None: ...
    async def pause_subscription(self, subscription_id: int, reason: str) -> None: ...
    async def set_webhook(self, subscription_id: int, webhook_id: int | None) -> None: ...
    def now(self) -> float: ...


class AnnouncementTransport(Protocol):
    """The part of the Discord client the announcer uses (a `discord.Client` is one)."""

    @property
    def user(self) -> discord.ClientUser | None: ...
    def get_channel(self, id: int, /) -> object | None: ...
    def is_closed(self) -> bool: ...
    async def wait_until_ready(self) -> None: ...
    def dispatch(self, event: str, /, *args: object) -> None: ...
    async def fetch_webhook(self, webhook_id: int, /) -> discord.Webhook: ...


# The announcement of a post for a subscription, in a server's locale, mentioning the role given
# (the summary may come from a language model).
RenderAnnouncement = Callable[[Post, Subscription, str, int | None], Awaitable[Announcement]]


class Pacer:
    """Keeps requests under `rate` in every rolling second, counting when they actually go out.

    Spacing planned slots is not enough: a task that takes its slot and then waits on the
    store sends late, and late sends bunch up. So the limiter looks back at the moments
    requests were really released, and also keeps a small gap between consecutive ones.
    """

    def __init__(self, rate: float, min_gap: float = 0.014, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.budget = int(rate)
        self.min_gap = min_gap
        self.clock = clock
        self._released: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        """Return (with the moment of release, on the pacer's clock) once a request may go out."""
        async with self._lock:
            while True:
                now = self.clock.monotonic()
                while self._released and now - self._released[0] >= 1.0:
                    self._released.popleft()
                ready = self._released[-1] + self.min_gap if self._released else now
                if len(self._released) >= self.budget:
                    ready = max(ready, self._released[0] + 1.0)
                if ready <= now:
                    break
                await self.clock.sleep(ready - now)
            released = self.clock.monotonic()
            self._released.append(released)
            return released


def required_permissions(channel_kind: str, delivery: str = "bot", thread: bool = False) -> dict[str, str]:
    """Permission attribute → its name in Discord's UI, for the channel kind and how posts land there.

    Webhook delivery needs Manage Webhooks (to make and fetch Kiji's webhook) and Read Message
    History (to find a delivery a crash left unrecorded); threads on announcements need Create
    Public Threads. Neither is in Kiji's default invite: only subscriptions that use them ask.
    """
    needed = {"view_channel": "View Channel", "send_messages": "Send Messages", "embed_links": "Embed Links"}
    if channel_kind == "forum":
        needed["send_messages"] = "Create Posts"
        needed["send_messages_in_threads"] = "Send Messages in Threads"
        return needed
    if delivery == "webhook":
        needed["manage_webhooks"] = "Manage Webhooks"
        needed["read_message_history"] = "Read Message History"
    if thread:
        needed["create_public_threads"] = "Create Public Threads"
    return needed


def forum_tags(
    available: Sequence[discord.ForumTag], post: Post, default_id: int | None = None
) -> list[discord.ForumTag]:
    """The forum's tags named like the post's tags or categories (NFKC + casefold), at most 5; else the default."""
    wanted = {normalize_key(name) for name in (*post.tags, *post.categories)}
    matched = [tag for tag in available if normalize_key(tag.name) in wanted][:MAX_FORUM_TAGS]
    if not matched and default_id is not None:
        matched = [tag for tag in available if tag.id == default_id]
    return matched


def channel_kind(channel: object) -> str | None:
    """ "text", "news" or "forum" for channels that can carry announcements, else None."""
    if isinstance(channel, discord.ForumChannel):
        return "forum"
    if isinstance(channel, discord.TextChannel):
        return "news" if channel.is_news() else "text"
    return None


def missing_permissions(
    channel: discord.abc.GuildChannel, member: discord.Member, kind: str, delivery: str = "bot", thread: bool = False
) -> list[str]:
    permissions = channel.permissions_for(member)
    needed = required_permissions(kind, delivery, thread)
    return [label for attribute, label in needed.items() if not getattr(permissions, attribute)]


class Announcer:
    """Runs the watch → queue → deliver loop for one bot."""

    def __init__(
        self,
        ledger: AnnouncementLedger,
        transport: AnnouncementTransport,
        render: RenderAnnouncement,
        *,
        max_burst: int,
        poll_seconds: float,
        clock: Clock = SYSTEM_CLOCK,
        pacer: Pacer | None = None,
        serves_guild: Callable[[int], bool] = lambda _guild_id: True,
        may_send: Callable[[], Awaitable[bool]] | None = None,
        other_shard_channel: Callable[[int, int], Awaitable[object | None]] | None = None,
        claim: Callable[[], Awaitable[list[Delivery]]] | None = None,
    ) -> None:
        # With the sync lease: pending deliveries are claimed for its term (`SyncLease.claim_deliveries`).
        self.claim = claim
        # The lease holder's way to another shard's channel (guild id, channel id), not in its cache.
        self.other_shard_channel = other_shard_channel
        # With several processes, the sync lease's fencing check (`SyncLease.may_send`) before each send.
        self.may_send = may_send
        # Sharded over several processes, each announces in its own shards' servers: the others' are not in
        # its cache (so would look gone) and are another process's to serve.
        self.serves_guild = serves_guild
        self.ledger = ledger
        self.transport = transport
        self.render = render
        self.max_burst = max_burst
        self.clock = clock
        # Paced on the real clock whatever `clock` is: the limit is on requests as Discord sees them.
        self.pacer = pacer or Pacer(GLOBAL_REQUESTS_PER_SECOND)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retry_at: dict[int, float] = {}
        self._failures: dict[int, int] = defaultdict(int)
        # Rounds never overlap: two rounds could both see a delivery pending and send it twice.
        self._round_lock = asyncio.Lock()
        self.rounds = 0
        self.poll_seconds = poll_seconds
        self._stopping = False
        self._timers: set[asyncio.Task[None]] = set()
        self.as_blog = BlogSender(ledger, self._my_id, transport.fetch_webhook)

    def _my_id(self) -> int | None:
        return self.transport.user.id if self.transport.user else None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="kiji-announcer")

    async def stop(self, grace_seconds: float = 15.0) -> None:
        """Let the delivery in flight finish and be recorded, start no new one, then stop.

        A send that Discord accepted but the ledger never recorded would only be resolved by
        the nonce on the next start; finishing it here keeps the ledger exact.
        """
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._round_lock.acquire(), timeout=grace_seconds)
            self._round_lock.release()
        except TimeoutError:
            log.warning("a delivery round did not finish within %.0fs of shutdown; stopping it", grace_seconds)
        for timer in list(self._timers):
            timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Run a round now instead of at the next poll (after /subscribe, /resume)."""
        self._wake.set()

    async def _run(self) -> None:
        self.as_blog.start()
        await self.transport.wait_until_ready()
        while not self.transport.is_closed() and not self._stopping:
            self._wake.clear()
            try:
                await self.run_round()
            except Exception:
                log.exception("announcement round failed; trying again at the next poll")
            # Woken by the watcher, a command or a back-off ending; else the poll interval
            # brings scheduled posts that came due.
            await wait_event(self.clock, self._wake, self.poll_seconds)

    async def run_round(self) -> None:
        """Queue what became new (or came due), deliver what is pending."""
        async with self._round_lock:
            await self._round()

    async def _round(self) -> None:
        queued = await self.ledger.enqueue_new_posts(self.max_burst)
        for subscription_id, (count, skipped) in queued.items():
            if skipped:
                log.warning(
                    "subscription %d: %d posts became new at once; announcing the newest %d, "
                    "recording %d as skipped (KIJI_MAX_BURST=%d)",
                    subscription_id,
                    count + skipped,
                    count,
                    skipped,
                    self.max_burst,
                )
            else:
                log.info("subscription %d: %d new posts queued", subscription_id, count)
        await self.deliver_pending()
        self.rounds += 1
        self.transport.dispatch("kiji_announce_round", self.rounds)

    async def deliver_pending(self) -> None:
        pending = await (self.claim() if self.claim is not None else self.ledger.pending_deliveries())
        by_channel: dict[int, list[Delivery]] = defaultdict(list)
        for delivery in pending:
            by_channel[delivery.channel_id].append(delivery)
        if not by_channel:
            return
        subscriptions = {s.id: s for s in await self.ledger.subscriptions()}
        gate = asyncio.Semaphore(CHANNEL_CONCURRENCY)

        async def one_channel(deliveries: list[Delivery]) -> None:
            async with gate:
                subscription = subscriptions.get(deliveries[0].subscription_id)
                if subscription is None or not self.serves_guild(subscription.guild_id):
                    return
                try:
                    await self._deliver_channel(subscription, deliveries)
                except Exception:
                    # One channel's surprise (a store error, a bug) must not stop the others,
                    # nor end the round while they are mid-send: the round lock would be
                    # released under them and a second round could send the same posts.
                    log.exception("delivering to channel %d failed unexpectedly", subscription.channel_id)
                    self._back_off(subscription)

        # Every channel is finished (one way or another) before the round, and its lock, ends.
        await asyncio.gather(*(one_channel(d) for d in by_channel.values()), return_exceptions=True)

    async def _deliver_channel(self, subscription: Subscription, deliveries: Sequence[Delivery]) -> None:
        if self.clock.monotonic() < self._retry_at.get(subscription.id, 0.0):
            return
        for delivery in deliveries:
            if self._stopping:
                return  # shutting down: the rest stays pending for the next start
            if self.may_send is not None and not await self.may_send():
                return  # another process holds the sync lease now: the rest is its to send
            outcome = await self._deliver(subscription, delivery)
            if not outcome.channel_goes_on:
                return  # keep order: nothing newer goes out before this one

    async def _deliver(self, subscription: Subscription, delivery: Delivery) -> Outcome:
        context = f"post {delivery.post_path} → channel {subscription.channel_id} (subscription {subscription.id})"
        post = await self.ledger.get_post(delivery.post_id) if delivery.post_id is not None else None
        if post is None:
            log.info("not announcing %s: the post was removed before it went out", context)
            await self.ledger.mark_skipped(delivery.id, "post removed before delivery")
            return Outcome.SKIPPED
        if post.scheduled(self.clock.time()):
            # Re-dated into the future while pending: it stays pending and goes out once due.
            log.info("not announcing %s yet: the post is now dated %s", context, post.date_iso)
            return Outcome.NOT_DUE
        if not await self.ledger.still_matches(subscription.id, post.id):
            log.info("not announcing %s: the post no longer matches the subscription's filters", context)
            await self.ledger.mark_skipped(delivery.id, "no longer matches the subscription's filters")
            return Outcome.SKIPPED
        channel = self.transport.get_channel(subscription.channel_id)
        if channel is None and self.other_shard_channel is not None:
            try:
                channel = await self.other_shard_channel(subscription.guild_id, subscription.channel_id)
            except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
                await self._retry_later(subscription, delivery, f"{type(exc).__name__}: {exc}", context)
                return Outcome.RETRY
        if channel is None:
            await self._pause(subscription, pause_reason("pause.channel_gone"), context)
            return Outcome.PAUSED
        kind = channel_kind(channel)
        guild = getattr(channel, "guild", None)
        if kind is None or guild is None:
            await self._pause(subscription, pause_reason("pause.wrong_kind"), context)
            return Outcome.PAUSED
        missing = missing_permissions(channel, guild.me, kind, subscription.delivery, subscription.thread)  # type: ignore[arg-type]
        if missing:
            await self._pause(subscription, pause_reason("pause.missing", names=missing), context)
            return Outcome.PAUSED
        try:
            message_id = await self._send(channel, subscription, post, delivery, kind)
        except discord.Forbidden as exc:
            reason = pause_reason("pause.refused", text=exc.text or "Missing Access", status=403)
            await self._pause(subscription, reason, context)
            return Outcome.PAUSED
        except discord.NotFound:
            await self._pause(subscription, pause_reason("pause.not_found"), context)
            return Outcome.PAUSED
        except discord.HTTPException as exc:
            if exc.code == INVALID_FORM_BODY or exc.status == 413:
                # This post's message, not the channel: skip it with Discord's reason, go on.
                reason = f"Discord refused this post's message: {exc.text or 'Invalid Form Body'} ({exc.status})"
                log.warning("not announcing %s: %s", context, reason)
                await self.ledger.mark_skipped(delivery.id, reason)
                return Outcome.SKIPPED
            if 400 <= exc.status < 500 and exc.status not in (408, 429):
                # Permanent (a forum that requires a tag, a body Discord rejects): retrying cannot
                # help, so the subscription shows it in /subscriptions until an admin resumes it.
                reason = pause_reason("pause.refused", text=exc.text or "Bad Request", status=exc.status)
                await self._pause(subscription, reason, context)
                return Outcome.PAUSED
            await self._retry_later(subscription, delivery, f"{type(exc).__name__}: {exc}", context)
            return Outcome.RETRY
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._retry_later(subscription, delivery, f"{type(exc).__name__}: {exc}", context)
            return Outcome.RETRY
        await self.ledger.mark_sent(delivery, message_id)
        self._failures.pop(subscription.id, None)
        self._retry_at.pop(subscription.id, None)
        log.info("announced %s as message %d", context, message_id)
        return Outcome.SENT

    async def _send(
        self,
        channel: discord.abc.GuildChannel,
        subscription: Subscription,
        post: Post,
        delivery: Delivery,
        kind: str,
    ) -> int:
        role = channel.guild.get_role(subscription.mention_role_id) if subscription.mention_role_id else None
        # Only the configured role may ever be pinged; nothing in a post can mention anyone.
        announcement = await self.render(
            post, subscription, str(channel.guild.preferred_locale), role.id if role else None
        )
        message = announcement.send_kwargs()
        name = announcement.thread_name or limits.cut(post.title, limits.THREAD_NAME)
        if kind == "forum":
            assert isinstance(channel, discord.ForumChannel)
            existing = await self._earlier_thread(channel, name, delivery)
            if existing is not None:
                log.info("forum %d already has thread %d for %s; recording it", channel.id, existing, post.path)
                return existing
            tags = forum_tags(channel.available_tags, post, subscription.forum_tag_id)
            await self.pacer.wait()  # last, right before the request: see Pacer
            created = await channel.create_thread(name=name, applied_tags=tags, **message)
            return created.message.id
        assert isinstance(channel, discord.TextChannel)
        if subscription.delivery == "webhook":
            sent = await self.as_blog.send(channel, subscription, delivery, announcement, post.abs_url, self.pacer.wait)
        else:
            await self.pacer.wait()
            sent = await channel.send(nonce=delivery.nonce, **message)
        if subscription.thread:
            await self._open_thread(sent, name)
        return sent.id

    async def _open_thread(self, message: discord.Message, name: str) -> None:
        """A thread on the announcement; one a retry finds already there is kept.

        The message is out by now, so a refusal here only loses the thread: it is logged, and the
        delivery is still recorded as sent (sending it again would post it twice).
        """
        await self.pacer.wait()
        try:
            await message.create_thread(name=name)
        except discord.HTTPException as exc:
            if exc.code != THREAD_ALREADY_CREATED:
                log.warning("message %d went out but its thread could not be opened: %s", message.id, exc)

    async def _earlier_thread(self, forum: discord.ForumChannel, name: str, delivery: Delivery) -> int | None:
        """A thread this bot already opened for `delivery` whose recording was lost, if any.

        Forum posts take no nonce, so a crash between creating the thread and recording it
        would otherwise open a second one on the retry. The bot's cache holds the forum's
        active threads (from THREAD_CREATE, and from GUILD_CREATE after a restart), so this
        costs no request: a thread of ours with the post's name, opened after the delivery
        was queued and recorded for no other post (two posts may share a title), is taken
        to be it. Remaining window: a thread archived before the retry is not in the cache
        and would be opened a second time.
        """
        me = self.transport.user.id if self.transport.user else None
        candidates = [
            thread.id
            for thread in forum.threads
            if thread.owner_id == me
            and thread.name == name
            and discord.utils.snowflake_time(thread.id).timestamp() >= delivery.created_at - 1.0
        ]
        if not candidates:
            return None
        recorded = {d.message_id for d in await self.ledger.deliveries(channel_id=forum.id) if d.message_id}
        return next((thread_id for thread_id in candidates if thread_id not in recorded), None)

    async def _pause(self, subscription: Subscription, reason: str, context: str) -> None:
        log.warning("pausing subscription %d: %s (while delivering %s)", subscription.id, reason, context)
        await self.ledger.pause_subscription(subscription.id, reason)

    async def _retry_later(self, subscription: Subscription, delivery: Delivery, error: str, context: str) -> None:
        delay = self._back_off(subscription)
        await self.ledger.record_attempt(delivery.id, error)
        log.warning("could not deliver %s: %s; retrying in %.0fs", context, error, delay)

    def _back_off(self, subscription: Subscription) -> float:
        """Leave the channel alone for a while (doubling each time), then wake a round for it."""
        self._failures[subscription.id] += 1
        delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (self._failures[subscription.id] - 1))
        self._retry_at[subscription.id] = self.clock.monotonic() + delay
        timer = asyncio.create_task(self._wake_after(delay), name=f"kiji-retry-{subscription.id}")
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        return delay

    async def _wake_after(self, delay: float) -> None:
        await self.clock.sleep(delay)
        self.wake()


def describe_pause(subscription: Subscription, tz: ZoneInfo, locale: str | None) -> str:
    """ "missing Send Messages since 2026-11-28 19:00 (JST)" for /subscriptions, in the reader's language."""
    why = pause_reason_in(subscription.paused_reason or "", locale)
    return t("sub.paused_since", locale, why=why, since=format_date(subscription.paused_at or 0, tz, locale))
