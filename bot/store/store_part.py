"""The base of the Store's parts: the methods `Store` provides that each part's methods call.

`Store` is assembled from parts (digests and notices, leases, post pictures, the blogs' rows) so
that no module grows past what fits in a head; each part reaches the database only through
these three, which `bot.store.database.Store` implements (and `PostgresStore` inherits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class StorePart:
    """What a part of `Store` may call: a read, a write (both on the store's connections) and the clock."""

    async def _read(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError  # Store's

    async def _write(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError  # Store's

    def _now(self, now: float | None) -> float:
        raise NotImplementedError  # Store's
