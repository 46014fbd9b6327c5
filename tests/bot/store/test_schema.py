"""Migrations: statements split where SQLite says they end, versions applied once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION, split_statements

TRIGGER_SCRIPT = """
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE note_log (note_id INTEGER, said TEXT);
CREATE TRIGGER notes_logged AFTER INSERT ON notes BEGIN
    INSERT INTO note_log (note_id, said) VALUES (new.id, 'a; b');
    UPDATE note_log SET said = said || ';' WHERE note_id = new.id;
END;
INSERT INTO notes (body) VALUES ('semi;colon');
"""


def test_a_trigger_body_stays_one_statement() -> None:
    statements = split_statements(TRIGGER_SCRIPT)
    assert len(statements) == 4
    assert statements[2].startswith("CREATE TRIGGER") and statements[2].endswith("END;")
    with sqlite3.connect(":memory:") as db:
        for statement in statements:
            db.execute(statement)
        assert db.execute("SELECT said FROM note_log").fetchall() == [("a; b;",)]
        assert db.execute("SELECT body FROM notes").fetchall() == [("semi;colon",)]


def test_an_unfinished_statement_is_refused() -> None:
    with pytest.raises(ValueError, match="incomplete SQL statement"):
        split_statements("CREATE TABLE a (x); CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;")


def test_every_migration_splits_into_statements_sqlite_accepts() -> None:
    with sqlite3.connect(":memory:") as db:
        for script in MIGRATIONS:
            for statement in split_statements(script):
                assert sqlite3.complete_statement(statement)
                db.execute(statement)


async def test_a_store_left_at_an_old_version_is_migrated_forward(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as raw:
        for statement in split_statements(MIGRATIONS[0]):
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 1")
    store = await Store.open(path)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        assert await store.get_summary(1, "short") is None  # the table of migration 2 exists
    finally:
        await store.close()
