"""Cluster events: what one process sharing a store tells every process sharing it (issue 24, point 4).

Several `kiji run` processes may share one PostgreSQL store, one of them holding the sync lease.
A push webhook may reach any of them: the one that verified it publishes "sync this blog" and the
holder syncs it. After an ingest that changed posts, the holder publishes "posts changed" and every
process drops its cached tag and title lists (what autocomplete reads), instead of serving them
stale for up to a minute.

On PostgreSQL the events travel by NOTIFY/LISTEN (`bot.store.postgres.cluster_events`). A SQLite
file is served by one process, so there they are handed to this process's own handlers
(`LocalClusterEvents`): the calling code is the same on both. Handlers are plain functions run on
the event loop; they should only ask for work (set an event, start a lane), not do it.

Delivery is at most once, as NOTIFY's is: a listener whose connection dropped hears nothing
meanwhile. When it listens again it hands its handlers `MISSED`, meaning "anything may have
happened while I was away": drop caches, look at every blog.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.store.errors import StoreError

log = logging.getLogger(__name__)

SYNC = "sync"  # {"kind": "sync", "blog": name}: the lease holder should sync that blog now (a push arrived)
POSTS_CHANGED = "posts_changed"  # an ingest changed posts: cached tag and title lists are stale
MISSED = "missed"  # never sent: a listener that was away tells its own handlers it may have missed events
CHANNEL = "kiji_events"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; a blog name is far below that.
MAX_PAYLOAD_BYTES = 7999


@dataclass(frozen=True)
class ClusterEvent:
    """One event: its kind, and the blog (source name) it is about, if any."""

    kind: str
    blog: str | None = None

    def encode(self) -> str:
        """The small JSON payload sent on the channel; StoreError if it is too big to send."""
        fields = {"kind": self.kind} if self.blog is None else {"kind": self.kind, "blog": self.blog}
        payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        if len(payload.encode()) > MAX_PAYLOAD_BYTES:
            raise StoreError(f"a cluster event about {self.blog!r:.80} is over {MAX_PAYLOAD_BYTES} bytes")
        return payload

    @classmethod
    def decode(cls, payload: str) -> ClusterEvent | None:
        """The event in `payload`, or None when it is not one of ours (someone else NOTIFYing the channel)."""
        try:
            fields = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(fields, dict) or not isinstance(fields.get("kind"), str):
            return None
        blog = fields.get("blog")
        if blog is not None and not isinstance(blog, str):
            return None
        return cls(fields["kind"], blog)


ClusterEventHandler = Callable[[ClusterEvent], None]


class EventHandlers:
    """This process's handlers; one that raises is logged, and the others still hear the event."""

    def __init__(self) -> None:
        self._handlers: list[ClusterEventHandler] = []

    def __len__(self) -> int:
        return len(self._handlers)

    def add(self, handler: ClusterEventHandler) -> None:
        self._handlers.append(handler)

    def remove(self, handler: ClusterEventHandler) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    def deliver(self, event: ClusterEvent) -> None:
        for handler in list(self._handlers):
            try:
                handler(event)
            except Exception:
                log.exception("a handler of the cluster event %s failed", event.kind)

    def deliver_payload(self, payload: str) -> None:
        event = ClusterEvent.decode(payload)
        if event is None:
            log.warning(
                "ignored a message on the %s channel that is not a Kiji event (%d bytes)", CHANNEL, len(payload)
            )
            return
        self.deliver(event)


class ClusterEventChannel(Protocol):
    """How a backend carries events (`LocalClusterEvents`, `PgClusterEvents`)."""

    async def publish(self, event: ClusterEvent) -> None: ...
    async def listen(self, handler: ClusterEventHandler) -> None: ...
    async def unlisten(self, handler: ClusterEventHandler) -> None: ...
    async def close(self) -> None: ...


class LocalClusterEvents:
    """The events of a store that one process serves (a SQLite file): delivered to this process only.

    As with NOTIFY, a publisher's handlers hear its own event, after `publish` returns (on the next
    turn of the loop), and the payload goes through the same JSON, so its limits are the same.
    """

    def __init__(self) -> None:
        self._handlers = EventHandlers()

    async def publish(self, event: ClusterEvent) -> None:
        asyncio.get_running_loop().call_soon(self._handlers.deliver_payload, event.encode())

    async def listen(self, handler: ClusterEventHandler) -> None:
        self._handlers.add(handler)

    async def unlisten(self, handler: ClusterEventHandler) -> None:
        self._handlers.remove(handler)

    async def close(self) -> None:
        """Nothing is held open."""


class StoreClusterEvents:
    """The store's cluster event methods (a part of `Store`; `PostgresStore` carries them by NOTIFY)."""

    _generation: int  # Store's: bumped, every cached tag and title list is stale
    _cluster_channel: ClusterEventChannel | None = None

    def _make_cluster_channel(self) -> ClusterEventChannel:
        return LocalClusterEvents()

    @property
    def _cluster_events(self) -> ClusterEventChannel:
        if self._cluster_channel is None:
            self._cluster_channel = self._make_cluster_channel()
        return self._cluster_channel

    async def publish_event(self, event: ClusterEvent) -> None:
        """Tell every process sharing this store (this one included); StoreError if it cannot be sent."""
        await self._cluster_events.publish(event)

    async def listen_events(self, handler: ClusterEventHandler) -> None:
        """Hand `handler` every event from now on; returns once listening (or, if the database cannot be
        reached, after saying so: listening then starts in the background as soon as it can)."""
        await self._cluster_events.listen(handler)

    async def unlisten_events(self, handler: ClusterEventHandler) -> None:
        await self._cluster_events.unlisten(handler)

    async def close_cluster_events(self) -> None:
        if self._cluster_channel is not None:
            channel, self._cluster_channel = self._cluster_channel, None
            await channel.close()

    def drop_cached_lists(self) -> None:
        """Forget the cached tag counts and title lists: another process changed posts."""
        self._generation += 1
