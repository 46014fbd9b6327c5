"""The full-text index (FTS5 over search tokens) and title lookups.

The index holds what `bot.content.search_tokens` made of each post's title and body, keyed
by the post's id; queries are turned into FTS5 expressions by the same module, so what is
indexed and what is asked always agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from bot.content import search_tokens
from bot.content.textnorm import normalize_key
from bot.models import SearchHit
from bot.store.post_rows import posts_by_ids
from bot.store.sqlhelpers import fetch_all, fetch_one

# Longest title-search needle: longer than any title, short enough for SQLite's LIKE.
TITLE_NEEDLE_MAX = 1000
# Above this many matches, search stops ranking by bm25 (see `search`).
RANKED_SEARCH_MAX = 2000


async def index(db: aiosqlite.Connection, entries: Sequence[tuple[int, str, str]]) -> None:
    """Index (post id, title tokens, body tokens); the post must not be indexed already."""
    await db.executemany("INSERT INTO post_search (rowid, title, body) VALUES (?, ?, ?)", entries)


async def unindex(db: aiosqlite.Connection, post_ids: Sequence[int]) -> None:
    await db.executemany("DELETE FROM post_search WHERE rowid = ?", [(post_id,) for post_id in post_ids])


async def search(
    db: aiosqlite.Connection, query: str, limit: int, now: float, ranked_max: int, source_id: int | None = None
) -> list[SearchHit]:
    """The posts of `matches`, in its order."""
    found = dict(await matches(db, query, limit, now, ranked_max, source_id))
    return [SearchHit(post, found[post.id]) for post in await posts_by_ids(db, list(found))]


async def matches(
    db: aiosqlite.Connection, query: str, limit: int, now: float, ranked_max: int, source_id: int | None = None
) -> list[tuple[int, bool]]:
    """(post id, in its title) of posts matching every piece of `query` as a phrase; the whole
    query as one phrase first, then title matches.

    Up to `ranked_max` matches are ordered by relevance (bm25). A query that matches more
    than that ("AI" on an AI blog) is not made slower by ranking every match: phrase and
    title matches come first, then the others, each newest-added first. Ids, not posts: during
    an ingest every row a read fetches waits for the interpreter lock behind busy threads, and
    /search shows ten of the hundred it finds at a time.
    """
    expression = search_tokens.match_expression(query)
    if expression is None:
        return []
    phrase = search_tokens.phrase_expression(query)
    title_expression = f"{{title}} : ({expression})"
    row = await fetch_one(db, "SELECT count(*) FROM post_search WHERE post_search MATCH ?", (expression,))
    if row is not None and int(row[0]) > ranked_max:
        return await _newest_first(db, expression, title_expression, phrase, limit, now, source_id)
    params: list[object] = [expression, title_expression]
    phrase_hits, in_phrase = "", "0"
    if phrase is not None:
        phrase_hits = ", phrase_hits AS (SELECT rowid AS id FROM post_search WHERE post_search MATCH ?) "
        in_phrase = "h.id IN (SELECT id FROM phrase_hits)"
        params.append(phrase)
    rows = await fetch_all(
        db,
        "WITH hits AS (SELECT rowid AS id, bm25(post_search, 5.0, 1.0) AS score "
        "              FROM post_search WHERE post_search MATCH ?), "
        "     title_hits AS (SELECT rowid AS id FROM post_search WHERE post_search MATCH ?) "
        f"{phrase_hits}"
        f"SELECT h.id, h.id IN (SELECT id FROM title_hits) AS in_title, {in_phrase} AS in_phrase "
        "FROM hits h JOIN posts p ON p.id = h.id WHERE p.date_utc <= ? AND (? IS NULL OR p.source_id = ?) "
        "ORDER BY in_phrase DESC, in_title DESC, h.score, p.date_utc DESC LIMIT ?",
        (*params, now, source_id, source_id, limit),
    )
    return [(int(row["id"]), bool(row["in_title"])) for row in rows]


async def _newest_first(
    db: aiosqlite.Connection,
    expression: str,
    title_expression: str,
    phrase: str | None,
    limit: int,
    now: float,
    source_id: int | None,
) -> list[tuple[int, bool]]:
    """Unranked matches, in groups: the whole phrase in the title, the phrase, the title, the rest."""
    groups: list[tuple[str, bool]] = []
    if phrase is not None:
        groups += [(f"({title_expression}) AND ({phrase})", True), (f"({expression}) AND ({phrase})", False)]
    groups += [(title_expression, True), (expression, False)]
    sql = (
        "SELECT s.rowid AS id FROM post_search s JOIN posts p ON p.id = s.rowid "
        "WHERE post_search MATCH ? AND p.date_utc <= ? AND (? IS NULL OR p.source_id = ?) "
        "ORDER BY s.rowid DESC LIMIT ?"
    )
    found: list[tuple[int, bool]] = []
    seen: set[int] = set()
    for group, in_title in groups:
        for row in await fetch_all(db, sql, (group, now, source_id, source_id, limit + len(seen))):
            post_id = int(row["id"])
            if post_id not in seen:
                seen.add(post_id)
                found.append((post_id, in_title))
        if len(found) >= limit:
            break
    return found[:limit]


async def search_titles(
    db: aiosqlite.Connection, needle: str, limit: int, now: float, source_id: int | None = None
) -> list[tuple[int, str]]:
    """Titles containing `needle` (NFKC/case-insensitive substring), newest first; of one blog if given."""
    # no title is longer; SQLite refuses LIKE patterns over 50,000 bytes
    key = normalize_key(needle)[:TITLE_NEEDLE_MAX]
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await fetch_all(
        db,
        "SELECT id, title FROM posts WHERE date_utc <= ? AND title_key LIKE ? ESCAPE '\\' "
        "AND (? IS NULL OR source_id = ?) ORDER BY date_utc DESC, id DESC LIMIT ?",
        (now, f"%{escaped}%", source_id, source_id, limit),
    )
    return [(int(row["id"]), str(row["title"])) for row in rows]
