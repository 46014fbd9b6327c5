"""The full-text index (FTS5 over search tokens) and title lookups.

The index holds what `bot.content.search_tokens` made of each post's title and body, keyed
by the post's id; queries are turned into FTS5 expressions by the same module, so what is
indexed and what is asked always agree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.content import search_tokens
from bot.content.textnorm import normalize_key
from bot.models import SearchHit
from bot.store.post_rows import POST_COLUMNS, hydrate, posts

# Longest title-search needle: longer than any title, short enough for SQLite's LIKE.
TITLE_NEEDLE_MAX = 1000
# Above this many matches, search stops ranking by bm25 (see `search`).
RANKED_SEARCH_MAX = 2000


def index(db: sqlite3.Connection, entries: Sequence[tuple[int, str, str]]) -> None:
    """Index (post id, title tokens, body tokens); the post must not be indexed already."""
    db.executemany("INSERT INTO post_search (rowid, title, body) VALUES (?, ?, ?)", entries)


def unindex(db: sqlite3.Connection, post_ids: Sequence[int]) -> None:
    db.executemany("DELETE FROM post_search WHERE rowid = ?", [(post_id,) for post_id in post_ids])


def search(
    db: sqlite3.Connection, query: str, limit: int, now: float, ranked_max: int, source_id: int | None = None
) -> list[SearchHit]:
    """Posts matching every term of `query`, title matches first.

    Up to `ranked_max` matches are ordered by relevance (bm25). A query that matches more
    than that ("AI" on an AI blog) is not made slower by ranking every match: title matches
    come first, then body matches, each newest-added first.
    """
    expression = search_tokens.match_expression(query)
    if expression is None:
        return []
    title_expression = f"{{title}} : ({expression})"
    row = db.execute("SELECT count(*) FROM post_search WHERE post_search MATCH ?", (expression,)).fetchone()
    if row is not None and int(row[0]) > ranked_max:
        sql = (
            f"SELECT {POST_COLUMNS} FROM post_search s JOIN posts p ON p.id = s.rowid "
            "WHERE post_search MATCH ? AND p.date_utc <= ? AND (? IS NULL OR p.source_id = ?) "
            "ORDER BY s.rowid DESC LIMIT ?"
        )
        in_title = posts(db, sql, (title_expression, now, source_id, source_id, limit))
        seen = {post.id for post in in_title}
        in_body = [
            p for p in posts(db, sql, (expression, now, source_id, source_id, limit + len(seen))) if p.id not in seen
        ]
        hits = [SearchHit(post, True) for post in in_title] + [SearchHit(post, False) for post in in_body]
        return hits[:limit]
    rows = list(
        db.execute(
            "WITH hits AS (SELECT rowid AS id, bm25(post_search, 5.0, 1.0) AS score "
            "              FROM post_search WHERE post_search MATCH ?), "
            "     title_hits AS (SELECT rowid AS id FROM post_search WHERE post_search MATCH ?) "
            f"SELECT {POST_COLUMNS}, h.id IN (SELECT id FROM title_hits) AS in_title "
            "FROM hits h JOIN posts p ON p.id = h.id WHERE p.date_utc <= ? AND (? IS NULL OR p.source_id = ?) "
            "ORDER BY in_title DESC, h.score, p.date_utc DESC LIMIT ?",
            (expression, title_expression, now, source_id, source_id, limit),
        )
    )
    found = hydrate(db, rows)
    return [SearchHit(post, bool(row["in_title"])) for post, row in zip(found, rows, strict=True)]


def search_titles(
    db: sqlite3.Connection, needle: str, limit: int, now: float, source_id: int | None = None
) -> list[tuple[int, str]]:
    """Titles containing `needle` (NFKC/case-insensitive substring), newest first; of one blog if given."""
    # no title is longer; SQLite refuses LIKE patterns over 50,000 bytes
    key = normalize_key(needle)[:TITLE_NEEDLE_MAX]
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = db.execute(
        "SELECT id, title FROM posts WHERE date_utc <= ? AND title_key LIKE ? ESCAPE '\\' "
        "AND (? IS NULL OR source_id = ?) ORDER BY date_utc DESC, id DESC LIMIT ?",
        (now, f"%{escaped}%", source_id, source_id, limit),
    )
    return [(int(row["id"]), str(row["title"])) for row in rows]
