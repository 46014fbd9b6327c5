"""The Store's methods for what goes out on a schedule: digests and notices (a part of `Store`).

Kept apart from `bot.store.database` so that module stays readable; `Store` inherits these and
provides `_read`, `_write` and `_now` (the writer queue, the readers and the injected clock).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Delivery, Digest, Notice
from bot.store import digests, notices
from bot.store.store_part import StorePart


class ScheduledMessages(StorePart):
    """Digest and notice ledgers, through the store's connections."""

    # -- digests (see bot.store.digests) ---------------------------------------------

    async def queued_for_digest(self, subscription_id: int) -> list[Delivery]:
        """The subscription's queued posts that no digest has claimed yet, oldest first."""
        return await self._read(digests.queued_for_digest, subscription_id)

    async def digest_for_period(self, subscription_id: int, period_start: float) -> Digest | None:
        return await self._read(digests.digest_for_period, subscription_id, period_start)

    async def open_digest(
        self,
        subscription_id: int,
        period: tuple[float, float],
        parts: Sequence[dict[str, object]],
        delivery_ids: Sequence[int],
        now: float | None = None,
    ) -> Digest | None:
        """Record a period's digest (pending; `empty` without parts) claiming its posts; None if it exists."""
        return await self._write(
            digests.open_digest, subscription_id, period, list(parts), list(delivery_ids), self._now(now)
        )

    async def pending_digests(self) -> list[Digest]:
        return await self._read(digests.pending_digests)

    async def digests(self, subscription_id: int | None = None) -> list[Digest]:
        return await self._read(digests.digests, subscription_id)

    async def record_digest_part(self, digest_id: int, part: int, message_id: int) -> None:
        await self._write(digests.record_part_sent, digest_id, part, message_id)

    async def finish_digest(self, digest_id: int, now: float | None = None) -> None:
        await self._write(digests.finish_digest, digest_id, self._now(now))

    async def skip_digest(self, digest_id: int, reason: str) -> None:
        await self._write(digests.skip_digest, digest_id, reason)

    async def record_digest_attempt(self, digest_id: int, error: str) -> None:
        await self._write(digests.record_digest_attempt, digest_id, error)

    # -- notices (see bot.store.notices) ---------------------------------------------

    async def plan_notices(
        self, configured: Sequence[int], failing_before: float, now: float | None = None
    ) -> tuple[int, int]:
        """Queue the notices that came due for the blogs `configured`: (down, up) queued."""
        return await self._write(notices.plan_notices, list(configured), failing_before, self._now(now))

    async def notices(self, state: str | None = None) -> list[Notice]:
        return await self._read(notices.notices, state)

    async def mark_notice_sent(self, notice_id: int, message_id: int, now: float | None = None) -> None:
        await self._write(notices.mark_notice_sent, notice_id, message_id, self._now(now))

    async def skip_notice(self, notice_id: int, reason: str) -> None:
        await self._write(notices.skip_notice, notice_id, reason)

    async def record_notice_attempt(self, notice_id: int, error: str) -> None:
        await self._write(notices.record_notice_attempt, notice_id, error)

    async def set_notice_settings(
        self, guild_id: int, enabled: bool, channel_id: int | None = None, now: float | None = None
    ) -> None:
        await self._write(notices.set_notice_settings, guild_id, enabled, channel_id, self._now(now))

    async def notice_settings(self, guild_id: int) -> tuple[bool, int | None]:
        return await self._read(notices.notice_settings, guild_id)
