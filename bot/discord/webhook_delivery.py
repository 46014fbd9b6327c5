"""Announcing as the blog: a channel webhook per subscription, sending with the blog's name and icon.

Kiji owns one webhook per channel, named `WEBHOOK_NAME`, made by the bot (Manage Webhooks, asked
for only when an admin picks `delivery: webhook`). The store keeps its id, never its token: a
webhook's token is a credential anyone could post with, so it is fetched with the bot's own
authorisation (`GET /webhooks/{id}`) once per start and lives in memory only. A webhook deleted by
an admin is replaced by a new one on the next delivery.

Exactly once without a nonce. Discord takes no nonce from a webhook, so the ledger's "pending
before send" cannot be finished by a retry that Discord deduplicates. Instead, before sending a
delivery that may already have gone out — queued before this process started, or tried by it
before — the channel's recent messages (`LOOKBACK`, newest first; Read Message History) are
searched for one from Kiji's webhook, created after the delivery was queued, recorded for no other
delivery, that carries the post's URL (as a link, an embed's URL or a button's) or, for a template
without the URL, the very text about to be sent. Found, it is recorded instead of sent again.
Remaining window: more than `LOOKBACK` messages in the channel between the crash and the restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import discord

from bot.discord.announcement import Announcement
from bot.models import Delivery, Subscription

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Kiji"
# Recent messages searched for a webhook delivery whose recording a crash lost.
LOOKBACK = 50
USERNAME_MAX = 80
AVATAR_URL_MAX = 2048
# Discord refuses a webhook username containing these, or equal to the others.
FORBIDDEN_IN_USERNAMES = ("discord", "clyde")
FORBIDDEN_USERNAMES = ("everyone", "here")
_URL = re.compile(r"https?://[^\s<>()\[\]]+")


def icon_url(icon: str, baseurl: str, post_url: str) -> str | None:
    """The blog's picture as an absolute http(s) URL Discord can fetch, or None.

    `_config.yml` may name it as a URL or as a path on the site (`/assets/logo.png`, `logo.png`);
    a path is taken from the site's address, as the post's own URL shows it, under `baseurl`.
    """
    icon = icon.strip()
    if not icon:
        return None
    scheme = urlsplit(icon).scheme
    if scheme in ("http", "https"):
        found = icon
    elif scheme:
        return None  # data:, file:, … : nothing Discord would fetch
    else:
        parts = urlsplit(post_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        base = "/" + "/".join(p for p in baseurl.split("/") if p)
        found = urljoin(f"{parts.scheme}://{parts.netloc}", base.rstrip("/") + "/" + icon.lstrip("/"))
    return found if len(found) <= AVATAR_URL_MAX else None


def webhook_username(name: str) -> str | None:
    """The blog's name as a webhook username Discord takes; None (the webhook's own name) if it would refuse it."""
    name = " ".join(name.split())[:USERNAME_MAX].strip()
    folded = name.casefold()
    if not name or folded in FORBIDDEN_USERNAMES or any(word in folded for word in FORBIDDEN_IN_USERNAMES):
        return None
    return name


async def own_webhook(channel: discord.TextChannel, me: int) -> discord.Webhook:
    """Kiji's webhook in `channel`, reused when there, else created. Needs Manage Webhooks."""
    for webhook in await channel.webhooks():
        if webhook.user is not None and webhook.user.id == me and webhook.name == WEBHOOK_NAME and webhook.token:
            return webhook
    return await channel.create_webhook(name=WEBHOOK_NAME, reason="Kiji: announce new posts as the blog")


def urls_in(message: discord.Message) -> set[str]:
    """Every URL a message shows: links in its text, its embeds' URLs, its (Components V2) link buttons and texts."""
    found = set(_URL.findall(message.content))
    found.update(embed.url for embed in message.embeds if embed.url)
    for component in _walk(message.components):
        if url := getattr(component, "url", None):
            found.add(str(url))
        if content := getattr(component, "content", None):
            found.update(_URL.findall(str(content)))
    return found


def _walk(components: Iterable[Any]) -> Iterable[Any]:
    for component in components:
        yield component
        for attribute in ("children", "components"):
            children = getattr(component, attribute, None)
            if isinstance(children, list):
                yield from _walk(children)
        if (accessory := getattr(component, "accessory", None)) is not None:
            yield accessory


class WebhookLedger(Protocol):
    async def deliveries(self, *, channel_id: int) -> list[Delivery]: ...
    async def set_webhook(self, subscription_id: int, webhook_id: int | None) -> None: ...
    def now(self) -> float: ...


class BlogSender:
    """Sends announcements through Kiji's channel webhooks, and finds the ones a crash left unrecorded."""

    def __init__(self, ledger: WebhookLedger, me: Callable[[], int | None], fetch: FetchWebhook) -> None:
        self.ledger = ledger
        self.me = me
        self.fetch = fetch
        self._webhooks: dict[int, discord.Webhook] = {}  # by channel id; tokens in memory only
        self._tried: set[int] = set()  # deliveries this process started sending
        self._started_at: float | None = None

    def start(self) -> None:
        """Deliveries queued before now may have been sent by an earlier process."""
        self._started_at = self.ledger.now()

    def may_have_gone_out(self, delivery: Delivery) -> bool:
        started = self._started_at if self._started_at is not None else float("inf")
        return delivery.id in self._tried or delivery.attempts > 0 or delivery.created_at < started

    async def webhook(self, channel: discord.TextChannel, subscription: Subscription) -> discord.Webhook:
        cached = self._webhooks.get(channel.id)
        if cached is not None:
            return cached
        found = None
        if subscription.webhook_id:
            try:
                found = await self.fetch(subscription.webhook_id)
            except discord.NotFound:
                log.info("channel %d: Kiji's webhook %d is gone; making another", channel.id, subscription.webhook_id)
            if found is not None and (found.channel_id != channel.id or not found.token):
                found = None
        if found is None:
            found = await own_webhook(channel, self.me() or 0)
            await self.ledger.set_webhook(subscription.id, found.id)
        self._webhooks[channel.id] = found
        return found

    def forget(self, channel_id: int) -> None:
        self._webhooks.pop(channel_id, None)

    async def sent_earlier(
        self,
        channel: discord.TextChannel,
        webhook_ids: set[int],
        delivery: Delivery,
        url: str,
        content: str | None,
    ) -> discord.Message | None:
        """The message a lost recording leaves behind for `delivery`, if the channel's recent messages hold it."""
        recorded = {d.message_id for d in await self.ledger.deliveries(channel_id=channel.id) if d.message_id}
        async for message in channel.history(limit=LOOKBACK):
            if message.created_at.timestamp() < delivery.created_at - 1.0:
                break  # newest first: everything further back is older than the delivery
            if message.webhook_id not in webhook_ids or message.id in recorded:
                continue
            if url in urls_in(message) or (content is not None and message.content == content):
                return message
        return None

    async def send(
        self,
        channel: discord.TextChannel,
        subscription: Subscription,
        delivery: Delivery,
        announcement: Announcement,
        url: str,
        pace: Callable[[], Awaitable[float]],
    ) -> discord.Message:
        """Send (or find already sent) `announcement` through the channel's webhook, as the blog."""
        webhook = await self.webhook(channel, subscription)
        if self.may_have_gone_out(delivery):
            await pace()
            ids = {webhook.id, *([subscription.webhook_id] if subscription.webhook_id else [])}
            earlier = await self.sent_earlier(channel, ids, delivery, url, announcement.content)
            if earlier is not None:
                log.info("channel %d already has webhook message %d for %s; recording it", channel.id, earlier.id, url)
                return earlier
        kwargs = announcement.send_kwargs()
        if announcement.sender is not None:
            if username := webhook_username(announcement.sender.name):
                kwargs["username"] = username
            if announcement.sender.avatar_url:
                kwargs["avatar_url"] = announcement.sender.avatar_url
        self._tried.add(delivery.id)
        for last_try in (False, True):
            await pace()
            try:
                return await webhook.send(wait=True, **kwargs)
            except discord.NotFound:
                # The webhook was deleted (Discord made no message): forget it and send through a new one.
                self.forget(channel.id)
                if last_try:
                    raise
                webhook = await self.webhook(channel, subscription)
        raise AssertionError("unreachable")


FetchWebhook = Callable[[int], Awaitable[discord.Webhook]]
