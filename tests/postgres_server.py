"""A real PostgreSQL server for the tests: `KIJI_TEST_POSTGRES_URL` (set by .ci/run), or one started here.

Without the URL, a session fixture starts a throwaway server when Debian's binaries are there
(/usr/lib/postgresql/*/bin): `initdb` in a temporary folder, listening on 127.0.0.1 on a free
port, as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
Without either, the tests that need it skip, saying why. Every test gets a database of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import throwaway_postgres

URL_VARIABLE = "KIJI_TEST_POSTGRES_URL"
_numbers = itertools.count(1)


@contextlib.contextmanager
def started_server() -> Iterator[str]:
    """Start a server of our own on 127.0.0.1 (`throwaway_postgres`); skip the test when none can be."""
    try:
        with throwaway_postgres.started_server() as url:
            yield url
    except throwaway_postgres.PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL: set {URL_VARIABLE} or {exc}")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """The URL of a database on a real server whose user may create databases."""
    given = os.environ.get(URL_VARIABLE, "").strip()
    if given:
        yield given
        return
    with started_server() as url:
        yield url


def database_url(admin_url: str, name: str) -> str:
    head, _, _ = admin_url.rpartition("/")
    return f"{head}/{name}"


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of `admin_url`, dropped afterwards; yields its URL."""
    import asyncpg

    name = f"kiji_test_{os.getpid()}_{next(_numbers)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    finally:
        await admin.close()
    try:
        yield database_url(admin_url, name)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest_asyncio.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A new, empty database for one test."""
    async with fresh_database(postgres_admin_url) as url:
        yield url


BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself; the `store` fixture skips it on PostgreSQL"
    )


@pytest.fixture
def store_backend() -> str:
    """The backend of the `store` fixture: SQLite, unless a module asks for both (`both_backends`)."""
    return "sqlite"


@pytest.fixture(params=BACKENDS)
def both_backends(request: pytest.FixtureRequest) -> str:
    """Use as `store_backend = both_backends` in a module whose store tests run on both databases."""
    marker = request.node.get_closest_marker("sqlite_only")
    if request.param == "postgresql" and marker is not None:
        pytest.skip(f"SQLite only: {marker.args[0] if marker.args else 'about the SQLite file'}")
    return str(request.param)


@contextlib.asynccontextmanager
async def store_location(request: pytest.FixtureRequest, backend: str, folder: Path) -> AsyncIterator[str]:
    """Where a test's store lives: a file in `folder`, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'kiji.sqlite3'}"
        return
    async with fresh_database(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


def create_database_now(admin_url: str, name: str) -> str:
    """A new, empty database `name` (for a module-scoped fixture, outside any event loop); returns its URL."""
    import asyncio

    import asyncpg

    async def create() -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        finally:
            await admin.close()

    asyncio.run(create())
    return database_url(admin_url, name)


def drop_database_now(admin_url: str, name: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())
