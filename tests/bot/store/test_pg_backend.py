"""The PostgreSQL backend keeps up with the SQLite one, and a database URL never shows its password."""

from __future__ import annotations

import ast
import logging
import socket
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bot.store import Store, StoreError, open_store, parse_location, redact, store_for
from bot.store.postgres.connections import twin
from bot.store.postgres.store import PostgresStore

REPO = Path(__file__).resolve().parents[3]
SECRET = "s3cr3t-Pa55word"


def _facade_calls() -> set[tuple[str, str]]:
    """(module, function) of every aggregate function `Store` (and the part of it in scheduled.py) hands
    to the database."""
    modules = {"meta", "posts", "post_rows", "search_index", "sources", "subscriptions", "summary_cache"}
    modules |= {"digests", "notices"}
    return {
        (node.value.id, node.attr)
        for facade in ("database.py", "scheduled.py", "post_images.py", "source_records.py")
        for node in ast.walk(ast.parse((REPO / "bot" / "store" / facade).read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in modules
        and node.attr[0].islower()
        and not node.attr.isupper()
    }


def test_every_function_the_store_runs_has_a_postgres_twin() -> None:
    import importlib

    calls = _facade_calls()
    assert ("posts", "write_batch") in calls and ("subscriptions", "mark_sent") in calls
    assert ("digests", "open_digest") in calls and ("notices", "plan_notices") in calls
    missing = []
    for module, name in sorted(calls):
        sqlite_function = getattr(importlib.import_module(f"bot.store.{module}"), name)
        if not callable(sqlite_function):
            continue
        try:
            found = twin(sqlite_function)
        except NotImplementedError:
            missing.append(f"{module}.{name}")
            continue
        assert found.__module__ == f"bot.store.postgres.{module}", name
    assert missing == []


async def test_every_sqlite_column_has_a_postgres_column(tmp_path: Path, postgres_url: str) -> None:
    sqlite_store = await open_store(tmp_path / "kiji.sqlite3")
    await sqlite_store.close()
    with sqlite3.connect(tmp_path / "kiji.sqlite3") as raw:
        tables = [row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        sqlite_columns = {
            (table, row[1])
            for table in tables
            if not table.startswith("post_search")  # FTS5's table and its shadow tables: a tsvector on PostgreSQL
            for row in raw.execute(f'PRAGMA table_info("{table}")')
        }
    postgres_store = await open_store(postgres_url)
    await postgres_store.close()
    connection = await asyncpg.connect(postgres_url)
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    assert sqlite_columns - {(row[0], row[1]) for row in rows} == set()


def test_urls_pick_the_backend() -> None:
    assert isinstance(store_for("sqlite:///data/kiji.sqlite3"), Store)
    assert store_for("sqlite:///data/kiji.sqlite3").location.path == Path("data/kiji.sqlite3")
    assert store_for("sqlite:////srv/kiji.sqlite3").location.path == Path("/srv/kiji.sqlite3")
    assert store_for("data/kiji.sqlite3").location.path == Path("data/kiji.sqlite3")
    assert isinstance(store_for("postgresql://kiji@db.example/kiji"), PostgresStore)
    assert isinstance(store_for("postgres://kiji@db.example/kiji"), PostgresStore)
    with pytest.raises(StoreError, match="sqlite:///PATH and postgresql://"):
        parse_location(f"mysql://kiji:{SECRET}@db/kiji")
    with pytest.raises(StoreError) as refused:
        parse_location(f"postgresql+psycopg://kiji:{SECRET}@db/kiji")
    assert SECRET not in str(refused.value)


def test_the_password_is_left_out_of_what_people_see() -> None:
    url = f"postgresql://kiji:{SECRET}@db.example:5432/kiji?password={SECRET}&sslmode=require"
    shown = redact(url)
    assert SECRET not in shown
    assert shown == "postgresql://kiji:***@db.example:5432/kiji?password=***&sslmode=require"
    location = parse_location(url)
    assert SECRET not in location.display and SECRET not in repr(location) and SECRET not in str(location)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_failed_connection_says_where_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"postgresql://kiji:{SECRET}@127.0.0.1:{_closed_port()}/kiji"
    with pytest.raises(StoreError) as failed:
        await open_store(url)
    message = str(failed.value)
    assert "cannot connect to the database postgresql://kiji:***@127.0.0.1" in message
    assert SECRET not in message and SECRET not in repr(failed.value.__cause__)
    assert SECRET not in caplog.text


async def test_a_refused_password_is_named_without_being_shown(postgres_admin_url: str, postgres_url: str) -> None:
    """A server that checks passwords (scram) refuses a wrong one; the message says so and hides it."""
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        auth = await admin.fetchval(
            "SELECT count(*) FROM pg_hba_file_rules WHERE type LIKE 'host%' AND auth_method = 'trust'"
        )
        await admin.execute("DROP ROLE IF EXISTS kiji_pw_test")
        await admin.execute(f"CREATE ROLE kiji_pw_test LOGIN PASSWORD 'right-{SECRET}'")
    finally:
        await admin.close()
    if auth:
        pytest.skip("this server trusts TCP connections: it checks no password")
    head, _, rest = postgres_url.partition("://")
    host = rest.split("@", 1)[-1]
    with pytest.raises(StoreError, match="password was refused") as refused:
        await open_store(f"{head}://kiji_pw_test:{SECRET}@{host}")
    assert SECRET not in str(refused.value)
