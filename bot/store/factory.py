"""`open_store(url)`: the one way the rest of Kiji gets a store, whichever database the URL names."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.store.interface import KijiStore
from bot.store.location import StoreLocation, parse_location


def store_for(location: str | Path | StoreLocation, clock: Callable[[], float] = time.time) -> KijiStore:
    """The store at `location`, not yet connected (the bot connects in its setup hook)."""
    where = location if isinstance(location, StoreLocation) else parse_location(location)
    if where.path is not None:
        from bot.store.database import Store

        return Store(where.path, clock=clock)
    from bot.store.postgres.store import PostgresStore  # asyncpg is loaded only by those who use it

    return PostgresStore(where, clock=clock)


async def open_store(
    location: str | Path | StoreLocation,
    create: bool = True,
    clock: Callable[[], float] = time.time,
    check: bool = True,
) -> KijiStore:
    """A connected, migrated store at `location` (a sqlite:// or postgresql:// URL, or a file path)."""
    store = store_for(location, clock=clock)
    await store.connect(create=create, check=check)
    return store
