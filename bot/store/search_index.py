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


def search(db: sqlite3.Connection, query: str, limit: int, now: float, ranked_max: int) -> list[SearchHit]:
    """Posts matching every piece of `query` as a phrase; the whole query as one phrase first, then title matches.

    Up to `ranked_max` matches are ordered by relevance (bm25). A query that matches more
    than that ("AI" on an AI blog) is not made slower by ranking every match: phrase and
    title matches come first, then the others, each newest-added first.
    """
    expression = search_tokens.match_expression(query)
    if expression is None:
        return []
    phrase = search_tokens.phrase_expression(query)
    title_expression = f"{{title}} : ({expression})"
    row = db.execute("SELECT count(*) FROM post_search WHERE post_search MATCH ?", (expression,)).fetchone()
    if row is not None and int(row[0]) > ranked_max:
        return _newest_first(db, expression, title_expression, phrase, limit, now)
    params: list[object] = [expression, title_expression]
    phrase_hits, in_phrase = "", "0"
    if phrase is not None:
        phrase_hits = ", phrase_hits AS (SELECT rowid AS id FROM post_search WHERE post_search MATCH ?) "
        in_phrase = "h.id IN (SELECT id FROM phrase_hits)"
        params.append(phrase)
    rows = list(
        db.execute(
            "WITH hits AS (SELECT rowid AS id, bm25(post_search, 5.0, 1.0) AS score "
            "              FROM post_search WHERE post_search MATCH ?), "
            "     title_hits AS (SELECT rowid AS id FROM post_search WHERE post_search MATCH ?) "
            f"{phrase_hits}"
            f"SELECT {POST_COLUMNS}, h.id IN (SELECT id FROM title_hits) AS in_title, {in_phrase} AS in_phrase "
            "FROM hits h JOIN posts p ON p.id = h.id WHERE p.date_utc <= ? "
            "ORDER BY in_phrase DESC, in_title DESC, h.score, p.date_utc DESC LIMIT ?",
            (*params, now, limit),
        )
    )
    found = hydrate(db, rows)
    return [SearchHit(post, bool(row["in_title"])) for post, row in zip(found, rows, strict=True)]


def _newest_first(
    db: sqlite3.Connection, expression: str, title_expression: str, phrase: str | None, limit: int, now: float
) -> list[SearchHit]:
    """Unranked matches, in groups: the whole phrase in the title, the phrase, the title, the rest."""
    groups: list[tuple[str, bool]] = []
    if phrase is not None:
        groups += [(f"({title_expression}) AND ({phrase})", True), (f"({expression}) AND ({phrase})", False)]
    groups += [(title_expression, True), (expression, False)]
    sql = (
        f"SELECT {POST_COLUMNS} FROM post_search s JOIN posts p ON p.id = s.rowid "
        "WHERE post_search MATCH ? AND p.date_utc <= ? ORDER BY s.rowid DESC LIMIT ?"
    )
    hits: list[SearchHit] = []
    seen: set[int] = set()
    for group, in_title in groups:
        for post in posts(db, sql, (group, now, limit + len(seen))):
            if post.id not in seen:
                seen.add(post.id)
                hits.append(SearchHit(post, in_title))
        if len(hits) >= limit:
            break
    return hits[:limit]


def search_titles(db: sqlite3.Connection, needle: str, limit: int, now: float) -> list[tuple[int, str]]:
    """Titles containing `needle` (NFKC/case-insensitive substring), newest first."""
    # no title is longer; SQLite refuses LIKE patterns over 50,000 bytes
    key = normalize_key(needle)[:TITLE_NEEDLE_MAX]
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = db.execute(
        "SELECT id, title FROM posts WHERE date_utc <= ? AND title_key LIKE ? ESCAPE '\\' "
        "ORDER BY date_utc DESC, id DESC LIMIT ?",
        (now, f"%{escaped}%", limit),
    )
    return [(int(row["id"]), str(row["title"])) for row in rows]
