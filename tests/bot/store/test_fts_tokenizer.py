"""The index's ascii tokenizer reads Kiji's search tokens exactly as unicode61 did, token for token.

Migration 8 moved the full-text table from FTS5's unicode61 tokenizer to ascii, which only splits
at ASCII spaces and punctuation, because `search_tokens` hands it tokens already folded and
separated. Proven here on every sample post and on random text: the same terms at the same
positions in both tables (FTS5's own vocabulary), so every query finds and ranks the same posts.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from factories import NOW, record
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content import search_tokens
from bot.content.cleaning import clean_body
from bot.sources.post_files import find_post_files
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site
from bot.store import Store
from bot.store.schema import MIGRATIONS, split_statements

TOKENIZERS = {"before": "unicode61 remove_diacritics 0", "now": "ascii"}


def test_the_store_indexes_with_the_ascii_tokenizer() -> None:
    last_index = [m for m in MIGRATIONS if "USING fts5" in m][-1]  # later migrations may touch other tables
    assert "tokenize = 'ascii'" in last_index


def _vocabularies(documents: list[tuple[str, str]]) -> dict[str, list[tuple[object, ...]]]:
    """Every (term, document, column, offset) each tokenizer makes of `documents`."""
    db = sqlite3.connect(":memory:")
    found = {}
    for name, tokenizer in TOKENIZERS.items():
        db.execute(f"CREATE VIRTUAL TABLE {name} USING fts5 (title, body, tokenize = '{tokenizer}')")
        db.executemany(f"INSERT INTO {name} (title, body) VALUES (?, ?)", documents)
        db.execute(f"CREATE VIRTUAL TABLE {name}_terms USING fts5vocab ({name}, 'instance')")
        found[name] = db.execute(f"SELECT term, doc, col, offset FROM {name}_terms ORDER BY 1, 2, 3, 4").fetchall()
    db.close()
    return found


def test_same_tokens_at_the_same_positions_on_every_sample_post(corpus_site: Path) -> None:
    site = load_site(corpus_site)
    documents = []
    for abs_path, rel_path in find_post_files(site):
        parsed = parse_post(Path(abs_path).read_bytes(), rel_path, site)
        cleaned = clean_body(parsed.body, parsed.title)
        documents.append((search_tokens.index_tokens(parsed.title), search_tokens.index_tokens(cleaned.search_text)))
    assert len(documents) == 61
    found = _vocabularies(documents)
    assert len(found["now"]) > 100_000
    assert found["now"] == found["before"]


# Japanese, Latin with accents, digits, fullwidth forms, Hangul, separators and spaces of several kinds
_ALPHABET = st.sampled_from(list("あアー・ゝ々〇漢字生成한글AaZzÉéßİı09０９ＡＡ_ -・/.,、。「」\t\n\u3000\xa0"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(_ALPHABET, max_size=60), min_size=1, max_size=4))
def test_same_tokens_at_the_same_positions_on_random_text(texts: list[str]) -> None:
    found = _vocabularies(
        [(search_tokens.index_tokens(text), search_tokens.index_tokens(text[::-1])) for text in texts]
    )
    assert found["now"] == found["before"]


def _undo_migrations_after(raw: sqlite3.Connection, index: int) -> None:
    """Take back the migrations after `index`, so the store is as that one found it.

    They only add columns (filled by an UPDATE at most), tables, indexes and triggers; anything else fails here.
    """
    for migration in reversed(MIGRATIONS[index + 1 :]):
        for statement in reversed(split_statements(migration)):
            text = statement.strip()
            if added := re.fullmatch(r"ALTER TABLE (\w+) ADD COLUMN (\w+) .*;", text, re.S):
                raw.execute(f"ALTER TABLE {added[1]} DROP COLUMN {added[2]}")
            elif made := re.fullmatch(r"CREATE (INDEX|TABLE|TRIGGER) (?:IF NOT EXISTS )?(\w+)\b.*", text, re.S):
                raw.execute(f"DROP {made[1]} {made[2]}")
            else:
                assert text.startswith("UPDATE "), f"this test cannot take back {text!r}"


async def test_a_store_indexed_with_unicode61_is_moved_over_with_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "kiji.sqlite3"
    store = await Store.open(path)
    await store.write_batch(
        [record("a", "生成AIの記事", "生成AIとエージェントの話。"), record("b", "B", "別の話")], now=NOW
    )
    await store.close()
    with sqlite3.connect(path) as raw:  # as migration 7 left it: the same rows under unicode61
        raw.execute(f"CREATE VIRTUAL TABLE old USING fts5 (title, body, tokenize = '{TOKENIZERS['before']}')")
        raw.execute("INSERT INTO old (rowid, title, body) SELECT rowid, title, body FROM post_search")
        raw.execute("DROP TABLE post_search")
        raw.execute("ALTER TABLE old RENAME TO post_search")
        ascii_migration = next(i for i, m in enumerate(MIGRATIONS) if "tokenize = 'ascii'" in m)
        _undo_migrations_after(raw, ascii_migration)
        raw.execute(f"PRAGMA user_version = {ascii_migration}")
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        assert [hit.post.path for hit in await store.search("生成AI", now=NOW)] == ["a"]
        assert [hit.post.path for hit in await store.search("別の", now=NOW)] == ["b"]
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        [table_sql] = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'post_search'").fetchone()
        assert "'ascii'" in table_sql
        assert raw.execute("SELECT count(*) FROM post_search").fetchone()[0] == 2
