"""`PostgresStore`: the store's facade over a PostgreSQL database.

Every method of `bot.store.database.Store` (the clock, the short caches of tag and title lists,
summary cache writes that queue behind a busy writer, the default source) is kept as it is: its
SQL is what differs, and `PgDatabase` runs this package's twin of each aggregate function. What
only a SQLite file needs (one writer shared with the ingest process, the writer thread's
priority, the online backup) is replaced here by what PostgreSQL does on its own.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from bot.store.cluster_events import ClusterEventChannel
from bot.store.database import Store
from bot.store.errors import StoreError
from bot.store.interface import WriteGate
from bot.store.location import StoreLocation
from bot.store.postgres import schema
from bot.store.postgres.cluster_events import PgClusterEvents
from bot.store.postgres.connections import PgDatabase

log = logging.getLogger(__name__)


class PostgresStore(Store):
    """Typed async access to a PostgreSQL database: `PostgresStore(location)`, then `await store.connect()`."""

    def __init__(self, location: StoreLocation, clock: Callable[[], float] = time.time) -> None:
        super().__init__(Path(), clock=clock)  # no file: `location` says where the store is
        self._location = location

    @property
    def location(self) -> StoreLocation:
        return self._location

    @property
    def database(self) -> PgDatabase:  # type: ignore[override]  # the same contract, another database
        if self._database is None:
            raise StoreError(f"the store {self._location.display} is not connected; call connect() first")
        return self._database  # type: ignore[return-value]

    async def connect(self, create: bool = True, check: bool = True) -> None:
        """Connect and migrate. `create` and `check` are SQLite's: a database is made by its server, and
        PostgreSQL checks its own pages."""
        database = await PgDatabase.open(self._location)
        try:
            await database.run_on_writer(schema.migrate, self._location.display)
        except BaseException:
            await database.close()
            raise
        self._database = database  # type: ignore[assignment]  # see `database`

    def _make_cluster_channel(self) -> ClusterEventChannel:
        """Events reach every process sharing the database, by NOTIFY/LISTEN."""
        return PgClusterEvents(self._location, lambda: self.database)

    async def migrate(self) -> None:
        await self.database.run_on_writer(schema.migrate, self._location.display)

    @property
    def read_only(self) -> bool:
        return False

    async def lower_writer_priority(self, niceness: int) -> bool:
        """The writes run in the server's processes, not in a thread of this one: nothing to lower."""
        return False

    def take_turns_with(self, gate: WriteGate) -> None:
        """PostgreSQL's row locks let both processes write: no turns to take."""

    @contextlib.asynccontextmanager
    async def writes_of_another_process(self) -> AsyncIterator[None]:
        """Another process writes meanwhile: afterwards the cached tag counts and titles are dropped."""
        try:
            yield
        finally:
            self._generation += 1

    async def backup(self, target: Path | str) -> tuple[int, int]:
        raise StoreError(
            f"the store is the PostgreSQL database {self._location.display}: back it up with its own tools,"
            " e.g. `pg_dump --format=custom --file=kiji.dump DATABASE`"
        )
