"""Kiji's domain types: what a post, a subscription and a delivery are.

Every layer speaks these: ingest builds `PostRecord`s, the store returns `Post`s, the Discord side
renders them. They live outside the store so nothing that only shows a post has to import SQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileState:
    """What the store knows about a post file, to skip unchanged files cheaply."""

    size: int
    mtime_ns: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class PostMeta:
    """What Jekyll says about a post: shared by what ingest writes and what readers get back."""

    path: str
    jekyll_id: str
    url: str
    abs_url: str
    slug: str
    title: str
    date_utc: float
    date_iso: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    author: str | None
    excerpt: str | None
    description: str | None
    reading_time: int


@dataclass(frozen=True, slots=True)
class PostRecord(PostMeta):
    """A fully prepared post, ready to be written (built by the ingest pipeline)."""

    text: str
    title_tokens: str
    body_tokens: str
    file: FileState
    outline: str = ""  # CleanedBody.outline: rebuilds the cleaned body from `text` for summaries
    derived_version: str = ""  # which cleaner/tokeniser made text, outline and tokens
    canonical_key: str | None = None  # the post's URL as a second key (see bot.sources.feeds.canonical_url)
    first_seen_at: float | None = None  # None: now; 0 for the archive (known before the blog's first read)
    silent: bool = False  # the archive of a blog's past: stored and searchable, never announced
    image: str | None = None  # the post's picture, an absolute http(s) URL (see bot.content.images)


@dataclass(frozen=True, slots=True)
class StoredBody:
    """A post's cleaned text as stored, and what it was made from (content hash, derived version)."""

    text: str
    outline: str
    made_from: tuple[str, str]


@dataclass(frozen=True, slots=True)
class Post(PostMeta):
    """A stored post as the rest of Kiji sees it."""

    id: int
    source_id: int = 0  # the blog it belongs to (see BlogSource)
    source: str = ""  # that blog's source name
    image: str | None = None  # the post's picture (what a card shows), an absolute http(s) URL

    def scheduled(self, now: float | None = None) -> bool:
        """A post dated in the future is stored but not served until its date arrives."""
        return self.date_utc > (time.time() if now is None else now)

    def as_json(self, now: float | None = None) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path,
            "url": self.abs_url,
            "title": self.title,
            "date": self.date_iso,
            "slug": self.slug,
            "tags": list(self.tags),
            "categories": list(self.categories),
            "author": self.author,
            "excerpt": self.excerpt,
            "description": self.description,
            "reading_time": self.reading_time,
            "image": self.image,
            "scheduled": self.scheduled(now),
            "source": self.source,
        }


def blog_label(source_id: int, name: str, display: str, title: str | None) -> str:
    """What people call a blog: its site title, else where it comes from."""
    return (title or "").strip() or display or name or f"#{source_id}"


@dataclass(frozen=True, slots=True)
class BlogSource:
    """A configured (or once configured) blog as the store knows it: what /about and `kiji sources` show."""

    id: int
    name: str
    display: str
    title: str | None
    url: str | None
    posts: int
    last_attempt_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None

    @property
    def label(self) -> str:
        return blog_label(self.id, self.name, self.display, self.title)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "display": self.display,
            "title": self.title,
            "url": self.url,
            "posts": self.posts,
            "last_attempt_at": self.last_attempt_at,
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


@dataclass(frozen=True, slots=True)
class TagCount:
    name: str
    key: str
    count: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    post: Post
    in_title: bool


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and how a subscription's posts land, beyond their look: who sends them, threads, forum tags."""

    delivery: str = "bot"  # bot, or webhook: a channel webhook named and pictured as the blog
    webhook_id: int | None = None
    thread: bool = False
    thread_name: str | None = None
    forum_tag_id: int | None = None


DEFAULT_PLACEMENT = Placement()


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel that announces new posts, optionally filtered by tag/category keys."""

    id: int
    guild_id: int
    channel_id: int
    channel_kind: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    mention_role_id: int | None
    created_at: float
    paused_reason: str | None
    paused_at: float | None
    last_delivery_at: float | None
    source_id: int | None = None  # only this blog's posts; None: every blog's
    layout: str = "embed"  # embed, card or text (see bot.discord.announcement)
    template: str | None = None  # the admin's template, checked when it was set
    timezone: str | None = None  # the IANA zone dates are shown in; None: the blog's
    delivery: str = "bot"  # bot, or webhook: sent through a channel webhook as the blog
    webhook_id: int | None = None  # that webhook (its token is never stored)
    thread: bool = False  # open a thread on each announcement (text and announcement channels)
    thread_name: str | None = None  # the thread's (and a forum post's) name template; None: {title}
    forum_tag_id: int | None = None  # the forum tag applied when none of a post's tags match
    digest: str = "off"  # off, daily or weekly (see bot.discord.digests)
    digest_hour: int = 9  # the hour a digest goes out, in the subscription's time zone
    digest_weekday: int = 0  # a weekly digest's day: 0 Monday … 6 Sunday

    @property
    def active(self) -> bool:
        return self.paused_reason is None

    @property
    def placement(self) -> Placement:
        return Placement(self.delivery, self.webhook_id, self.thread, self.thread_name, self.forum_tag_id)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (post, subscription) pair in the ledger: pending until Discord confirms the message."""

    id: int
    subscription_id: int
    guild_id: int
    channel_id: int
    post_path: str
    post_id: int | None
    post_date_utc: float
    state: str
    nonce: str
    message_id: int | None
    attempts: int
    last_error: str | None
    created_at: float
    sent_at: float | None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id),
            "post_path": self.post_path,
            "post_id": self.post_id,
            "state": self.state,
            "message_id": str(self.message_id) if self.message_id else None,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
        }


@dataclass(frozen=True, slots=True)
class Digest:
    """One period's digest for a subscription: its messages rendered once, sent part by part."""

    id: int
    subscription_id: int
    guild_id: int
    channel_id: int
    period_start: float
    period_end: float
    state: str  # pending, sent, skipped, or empty (the period had no post: nothing was sent)
    parts: tuple[dict[str, object], ...]  # each a message: {"content": …, "embeds": […], "role_id": …}
    message_ids: tuple[int, ...]  # of the parts sent so far, in order
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice that a blog stopped updating (`down`) or updates again (`up`), for one channel."""

    id: int
    source_id: int
    guild_id: int
    channel_id: int
    failing_since: float
    kind: str  # down or up
    state: str
    reason: str | None  # the source's error when the notice was planned (already free of credentials)
    nonce: str
    blog: str  # the blog's label
    last_success_at: float | None
