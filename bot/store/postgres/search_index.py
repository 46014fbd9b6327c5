"""Full-text search on PostgreSQL with the answers of SQLite's FTS5 index (twin of `bot.store.search_index`).

What is indexed and what is asked are Kiji's own tokens (`bot.content.search_tokens`), as on
SQLite. Each post's tokens become one `tsvector` written as a literal (no text search parser
re-reads them): the title's tokens at positions 1…T with weight A, the body's from T+2 (the gap
keeps a phrase from running from the title into the body). A query's phrases become `tsquery`
phrases (`<->`, `:*` for a prefix, `:A` for "in the title"), matched through a GIN index.

`tsvector` has limits FTS5 has not: positions stop at 16,383, a lexeme keeps at most 256 of
them, a lexeme is at most 2,046 bytes. A post within them is `exact`: its vector answers
phrases exactly. A post within the positions but with a few lexemes past 256 of them keeps all the
others' positions (its `crowded` lexemes are listed): it answers exactly a query none of whose
lexemes is crowded there. Any other post past the limits (and a crowded one for a query that
needs a crowded lexeme) is found by an AND of the query's tokens and checked in Python against its
stored tokens, so no post is found or missed by the limits.

Ranking: the order is FTS5's `bm25(post_search, 5.0, 1.0)` (k1 = 1.2, b = 0.75, title hits
weigh 5, IDF floored at 1e-6), computed here in Python from the same statistics FTS5 uses (rows,
total tokens, rows matching each phrase, each post's size and its phrase instances per column),
with the same floating-point steps in the same order, so both backends give the same scores
bit for bit (tests/bot/store/test_pg_search_parity.py). Ties (same groups, score and date) go
by post id, ascending.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, islice
from typing import Any

import asyncpg

from bot.content import search_tokens
from bot.content.textnorm import normalize_key
from bot.models import SearchHit
from bot.store.postgres.post_rows import posts_by_ids
from bot.store.postgres.search_loose import LooseWalk
from bot.store.postgres.search_stats import (
    MAX_LEXEME_BYTES,
    DocStats,
    Phrase,
    _idf,
    _phrases,
    _quoted,
    _stats,
    _stats_from_positions,
    bm25,
)
from bot.store.search_index import RANKED_SEARCH_MAX, TITLE_NEEDLE_MAX

__all__ = [
    "RANKED_SEARCH_MAX",
    "TITLE_NEEDLE_MAX",
    "Phrase",
    "index",
    "matches",
    "search",
    "search_titles",
    "unindex",
]

MAX_POSITION = 16383
MAX_POSITIONS_PER_LEXEME = 256


# -- indexing ------------------------------------------------------------------------


def _escaped(tokens: str) -> str:
    """`tokens` with every quote and backslash escaped as a tsvector literal's quoted lexeme needs."""
    return tokens.replace("\\", "\\\\").replace("'", "''")


# "':<position> '" after each quoted lexeme (title positions weigh A), made once: joined in C below
_TITLE_AFTER = [f"':{at}A '" for at in range(MAX_POSITION + 1)]
_BODY_AFTER = [f"':{at} '" for at in range(MAX_POSITION + 1)]


def _vector(title_tokens: str, body_tokens: str) -> tuple[str, bool, list[str] | None, int, int, Iterable[str]]:
    """The tsvector literal of a post's tokens, whether it holds every position exactly, its crowded lexemes,
    the two sizes, and the distinct tokens.

    An exact literal lists each token at its position (`'ai':3 'x':4 'ai':9`); PostgreSQL's input
    merges a lexeme's positions itself, so no Python loop runs per token (6,000 tokens a post).
    A post whose positions all fit but where a few lexemes occur more than 256 times (half of the
    sample's real posts: `の`, `the`) gets the same literal: PostgreSQL keeps those lexemes' first 256
    positions, and they are listed as `crowded` (the vector answers for every other lexeme exactly).
    A post past 16,383 positions, or with a token too long for a lexeme, has a vector of its lexemes
    only (`crowded` None), and is checked against its tokens in Python.
    """
    title, body = title_tokens.split(), body_tokens.split()
    counts = Counter(title)
    counts.update(body)
    fits = len(title) + 1 + len(body) <= MAX_POSITION and not any(
        len(token.encode()) > MAX_LEXEME_BYTES for token in counts if len(token) > MAX_LEXEME_BYTES // 4
    )
    if not fits:
        vector = " ".join(_quoted(token) for token in counts if len(token.encode()) <= MAX_LEXEME_BYTES)
        return vector, False, None, len(title), len(body), counts.keys()
    crowded = (
        sorted(token for token, count in counts.items() if count > MAX_POSITIONS_PER_LEXEME)
        if max(counts.values(), default=0) > MAX_POSITIONS_PER_LEXEME
        else []
    )
    pieces = chain(
        chain.from_iterable(zip(_escaped(title_tokens).split(), islice(_TITLE_AFTER, 1, None), strict=False)),
        chain.from_iterable(
            zip(_escaped(body_tokens).split(), islice(_BODY_AFTER, len(title) + 2, None), strict=False)
        ),
    )
    vector = "'" + "".join(pieces)
    literal = vector[:-2] if len(vector) > 1 else ""
    return literal, not crowded, (crowded or None), len(title), len(body), counts.keys()


async def index(db: asyncpg.Connection, entries: Sequence[tuple[int, str, str]]) -> None:
    """Index (post id, title tokens, body tokens); the post must not be indexed already."""
    if not entries:
        return
    rows = []
    lexemes: set[str] = set()
    for post_id, title_tokens, body_tokens in entries:
        vector, exact, crowded, title_size, body_size, distinct = _vector(title_tokens, body_tokens)
        # crowded lexemes as one text (an array of arrays cannot be ragged), split again in SQL: tokens hold no space
        crowding = None if crowded is None else " ".join(crowded)
        rows.append((post_id, title_tokens, body_tokens, title_size, body_size, exact, vector, crowding))
        lexemes.update(distinct)
    # one statement for the whole batch: one round trip, and the totals' trigger runs once
    await db.execute(
        "INSERT INTO post_search (post_id, title_tokens, body_tokens, title_size, body_size, exact, lexemes, "
        "crowded) SELECT i, tt, bt, ts, bs, e, v::tsvector, string_to_array(c, ' ') "
        "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::integer[], $5::integer[], $6::boolean[], $7::text[], "
        "$8::text[]) AS u(i, tt, bt, ts, bs, e, v, c)",
        *(list(column) for column in zip(*rows, strict=True)),
    )
    await db.execute(
        "INSERT INTO search_lexicon (lexeme) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        sorted(token for token in lexemes if len(token.encode()) <= MAX_LEXEME_BYTES),
    )


async def unindex(db: asyncpg.Connection, post_ids: Sequence[int]) -> None:
    await db.execute("DELETE FROM post_search WHERE post_id = ANY($1::bigint[])", list(post_ids))


# -- queries -------------------------------------------------------------------------


async def search(
    db: asyncpg.Connection, query: str, limit: int, now: float, ranked_max: int, source_id: int | None = None
) -> list[SearchHit]:
    """The posts of `matches`, in its order."""
    found = dict(await matches(db, query, limit, now, ranked_max, source_id))
    return [SearchHit(post, found[post.id]) for post in await posts_by_ids(db, list(found))]


async def matches(
    db: asyncpg.Connection, query: str, limit: int, now: float, ranked_max: int, source_id: int | None = None
) -> list[tuple[int, bool]]:
    """(post id, in its title), in the order of SQLite's `search_index.matches` (see the module's docstring)."""
    phrases = _phrases(search_tokens.match_expression(query), " AND ")
    if not phrases:
        return []
    alternatives = _phrases(search_tokens.phrase_expression(query), " OR ")
    # Every statement below is meant to go through an index, planned for its own query (how many posts a
    # lexeme is in varies a thousandfold). After five runs of a statement PostgreSQL may keep a generic plan:
    # newest-first over a common lexeme then went from 3 ms to 240-370 ms at 100,000 posts; and once an
    # ingest has changed the statistics, a `LIMIT` over a common lexeme is costed as a short sequential scan
    # that re-reads every vector. For this read's transaction, neither (nor JIT's compile time).
    await db.execute(
        "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = off; SET LOCAL jit = off"
    )
    each = [p.tsquery() for p in phrases]
    every, any_of = " & ".join(each), " | ".join(each)
    loose = [p.loose_tsquery() for p in phrases]
    # every post past the limits when a phrase's tokens are all too long for a lexeme (then only Python can tell)
    loose_any = None if None in loose else " | ".join(q for q in loose if q is not None)
    # statistics of the exact posts in SQL, the others checked here
    # Past `ranked_max` matches the order is unranked and no count is needed: stop counting there (a
    # common phrase otherwise re-reads tens of thousands of vectors for its positions).
    matched = int(
        await db.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM post_search WHERE exact AND lexemes @@ $1::tsquery LIMIT $2) m",
            every,
            ranked_max + 1,
        )
    )
    positioned, others = await _loose_candidates(db, loose_any, phrases, alternatives, now, source_id)
    if matched > ranked_max:  # unranked: the posts past the limits are checked only as far as the page needs
        loose_walk = await LooseWalk.load(
            db,
            {post_id: stats for post_id, (stats, shown) in positioned.items() if shown},
            [post_id for post_id, shown in others if shown],
            lambda title: all(p.count_in(" ".join(title.split())) for p in phrases),
            lambda title, body: _stats(title, body, phrases, alternatives),
        )
        return await _newest_first(db, phrases, alternatives, loose_walk, limit, now, source_id)
    if len(each) == 1:  # every = any = the phrase
        hits = [matched]
    else:
        counted = await db.fetchrow(
            "SELECT count(*) FILTER (WHERE lexemes @@ $1::tsquery) AS every, "
            + ", ".join(f"count(*) FILTER (WHERE lexemes @@ ${n + 3}::tsquery)" for n in range(len(each)))
            + " FROM post_search WHERE exact AND lexemes @@ $2::tsquery",
            every,
            any_of,
            *each,
        )
        hits = [int(counted[n + 1]) for n in range(len(each))]
        matched = int(counted["every"])
    shown = {post_id: visible for post_id, (_, visible) in positioned.items()} | dict(others)
    every_loose = {post_id: stats for post_id, (stats, _) in positioned.items()}
    for row in await db.fetch(
        "SELECT post_id, title_tokens, body_tokens FROM post_search WHERE post_id = ANY($1::bigint[])",
        [post_id for post_id, _ in others],
    ):
        every_loose[int(row["post_id"])] = _stats(row["title_tokens"], row["body_tokens"], phrases, alternatives)
    checked: dict[int, DocStats] = {}
    for post_id, stats in every_loose.items():
        for i, (title, body) in enumerate(stats.counts):
            hits[i] += 1 if title + body else 0
        if stats.matches:
            checked[post_id] = stats
            matched += 1
    loose_hits = {post_id: stats for post_id, stats in checked.items() if shown[post_id]}
    visible = await _dates(db, list(loose_hits))
    if matched > ranked_max:
        walk = LooseWalk.checked(db, loose_hits)  # the exact posts alone were within the limit: all checked
        return await _newest_first(db, phrases, alternatives, walk, limit, now, source_id)
    totals = await db.fetchrow("SELECT posts, tokens FROM search_totals")
    rows, tokens = int(totals["posts"]), int(totals["tokens"])
    idf = [_idf(rows, hit) for hit in hits]
    avgdl = float(tokens) / float(rows)
    ranked = []
    candidates = await _exact_candidates(db, every, phrases, alternatives, now, source_id)
    for post_id, (stats, date_utc) in candidates.items():
        ranked.append((not stats.phrase_hit, not stats.in_title, bm25(stats, idf, avgdl), -date_utc, post_id, stats))
    for post_id, stats in loose_hits.items():
        ranked.append(
            (not stats.phrase_hit, not stats.in_title, bm25(stats, idf, avgdl), -visible[post_id], post_id, stats)
        )
    ranked.sort(key=lambda entry: entry[:5])
    return [(entry[4], entry[5].in_title) for entry in ranked[:limit]]


async def _dates(db: asyncpg.Connection, post_ids: list[int]) -> dict[int, float]:
    """post id → date of `post_ids`."""
    if not post_ids:
        return {}
    rows = await db.fetch("SELECT id, date_utc FROM posts WHERE id = ANY($1::bigint[])", post_ids)
    return {int(row["id"]): float(row["date_utc"]) for row in rows}


async def _loose_candidates(
    db: asyncpg.Connection,
    loose_any: str | None,
    phrases: Sequence[Phrase],
    alternatives: Sequence[Phrase],
    now: float,
    source_id: int | None,
) -> tuple[dict[int, tuple[DocStats, bool]], list[tuple[int, bool]]]:
    """The posts past the limits holding the query's tokens (all of them when `loose_any` is None): post id →
    (stats, visible now and of the source asked for) of those whose vector answers for the query (none of its
    lexemes crowded there, see `_vector`), read from its positions as an exact post's; and (post id, visible)
    of the others, to be checked against their tokens."""
    rows = await db.fetch(
        "SELECT s.post_id, s.title_size, s.body_size, u.lexeme, u.positions, "
        "s.crowded IS NOT NULL AND NOT s.crowded && $2::text[] AS positioned, "
        "p.date_utc <= $3 AND ($4::bigint IS NULL OR p.source_id = $4) AS shown "
        "FROM post_search s JOIN posts p ON p.id = s.post_id LEFT JOIN LATERAL unnest(CASE WHEN s.crowded IS NOT NULL "
        "AND NOT s.crowded && $2::text[] THEN ts_filter(setweight(s.lexemes, 'B', $2::text[]), '{b}') END) u ON true "
        "WHERE NOT s.exact AND ($1::tsquery IS NULL OR s.lexemes @@ $1::tsquery)",
        loose_any,
        await _wanted(db, phrases, alternatives),
        float(now),
        source_id,
    )
    found: dict[int, tuple[int, int, bool, dict[str, Sequence[int]]]] = {}
    others: list[tuple[int, bool]] = []
    for row in rows:
        post_id = int(row["post_id"])
        if not row["positioned"]:
            others.append((post_id, bool(row["shown"])))
            continue
        entry = found.setdefault(post_id, (row["title_size"], row["body_size"], bool(row["shown"]), {}))
        if row["lexeme"] is not None:
            entry[3][row["lexeme"]] = row["positions"]
    positioned = {
        post_id: (_stats_from_positions(title_size, body_size, lexemes, phrases, alternatives), shown)
        for post_id, (title_size, body_size, shown, lexemes) in found.items()
    }
    return positioned, others


async def _exact_candidates(
    db: asyncpg.Connection,
    every: str,
    phrases: Sequence[Phrase],
    alternatives: Sequence[Phrase],
    now: float,
    source_id: int | None,
) -> dict[int, tuple[DocStats, float]]:
    """The visible exact posts matching `every`, with their stats read from their vectors' positions."""
    # Only the wanted lexemes' positions, picked out in C: `setweight` marks them B (titles are A, bodies D;
    # nothing else is B) and `ts_filter` keeps what is B. Unnesting whole vectors instead cost ~0.4 ms a post.
    rows = await db.fetch(
        "SELECT s.post_id, s.title_size, s.body_size, p.date_utc, u.lexeme, u.positions "
        "FROM post_search s JOIN posts p ON p.id = s.post_id "
        "LEFT JOIN LATERAL unnest(ts_filter(setweight(s.lexemes, 'B', $4::text[]), '{b}')) u ON true "
        "WHERE s.exact AND s.lexemes @@ $1::tsquery AND p.date_utc <= $2 AND ($3::bigint IS NULL OR p.source_id = $3)",
        every,
        float(now),
        source_id,
        await _wanted(db, phrases, alternatives),
    )
    by_post: dict[int, tuple[int, int, float, dict[str, Sequence[int]]]] = {}
    for row in rows:
        post_id = int(row["post_id"])
        entry = by_post.setdefault(post_id, (row["title_size"], row["body_size"], float(row["date_utc"]), {}))
        if row["lexeme"] is not None:
            entry[3][row["lexeme"]] = row["positions"]
    return {
        post_id: (_stats_from_positions(title_size, body_size, lexemes, phrases, alternatives), date_utc)
        for post_id, (title_size, body_size, date_utc, lexemes) in by_post.items()
    }


async def _wanted(db: asyncpg.Connection, phrases: Sequence[Phrase], alternatives: Sequence[Phrase]) -> list[str]:
    """The lexemes whose positions tell the query's phrases, a prefix standing for every lexeme it begins."""
    wanted = {t for p in (*phrases, *alternatives) for t in p.tokens}
    for prefix in sorted({p.tokens[-1] for p in (*phrases, *alternatives) if p.prefix}):
        # the lexemes a prefix stands for: one range of the lexicon's index (C collation: byte order)
        wanted.update(row[0] for row in await db.fetch("SELECT lexeme FROM search_lexicon WHERE lexeme ^@ $1", prefix))
    return sorted(token for token in wanted if len(token.encode()) <= MAX_LEXEME_BYTES)


async def _newest_first(
    db: asyncpg.Connection,
    phrases: Sequence[Phrase],
    alternatives: Sequence[Phrase],
    loose: LooseWalk,
    limit: int,
    now: float,
    source_id: int | None,
) -> list[tuple[int, bool]]:
    """Unranked matches, in groups: the whole phrase in the title, the phrase, the title, the rest."""
    every = " & ".join(p.tsquery() for p in phrases)
    in_title = " & ".join(p.tsquery(title_only=True) for p in phrases)
    # each group: its tsquery, whether a title group, and which of the posts past the limits belong to it
    groups: list[tuple[str, bool, Callable[[Any], bool]]] = []
    if alternatives:
        phrase = "(" + " | ".join(p.tsquery() for p in alternatives) + ")"
        groups += [
            (f"({in_title}) & {phrase}", True, lambda s: s.in_title and s.phrase_hit),
            (f"({every}) & {phrase}", False, lambda s: s.matches and s.phrase_hit),
        ]
    groups += [(in_title, True, lambda s: s.in_title), (every, False, lambda s: s.matches)]
    found: list[tuple[int, bool]] = []
    seen: set[int] = set()
    for group, title_group, belongs in groups:
        # a title group is first narrowed by the title's own index (title_lexemes: its weight-A lexemes)
        title_first = "s.title_lexemes @@ $5::tsquery AND " if title_group else ""
        rows = await db.fetch(
            "SELECT s.post_id FROM post_search s JOIN posts p ON p.id = s.post_id "
            f"WHERE s.exact AND {title_first}s.lexemes @@ $1::tsquery AND p.date_utc <= $2 "
            "AND ($3::bigint IS NULL OR p.source_id = $3) ORDER BY s.post_id DESC LIMIT $4",
            group,
            float(now),
            source_id,
            limit + len(seen),
            *((in_title,) if title_group else ()),
        )
        loose_ids = await loose.newest(belongs, limit + len(seen), title_group)
        ids = sorted({int(row["post_id"]) for row in rows} | set(loose_ids), reverse=True)
        for post_id in ids[: limit + len(seen)]:
            if post_id not in seen:
                seen.add(post_id)
                found.append((post_id, title_group))
        if len(found) >= limit:
            break
    return found[:limit]


async def search_titles(
    db: asyncpg.Connection, needle: str, limit: int, now: float, source_id: int | None = None
) -> list[tuple[int, str]]:
    """Titles containing `needle` (NFKC/case-insensitive substring), newest first; of one blog if given."""
    key = normalize_key(needle)[:TITLE_NEEDLE_MAX]
    # 2+ characters: the titles holding each of the needle's two-character pieces, through their index (the
    # planner still scans newest first when the pieces are common), then `strpos` decides, as LIKE does on SQLite
    pieces = "kiji_bigrams(title_key) @> kiji_bigrams($2) AND " if len(key) >= 2 else ""
    await db.execute("SET LOCAL plan_cache_mode = force_custom_plan")  # a rare needle and a common one differ
    rows = await db.fetch(
        f"SELECT id, title FROM posts p WHERE date_utc <= $1 AND {pieces}strpos(title_key, $2) > 0 "
        "AND ($3::bigint IS NULL OR source_id = $3) ORDER BY date_utc DESC, id DESC LIMIT $4",
        float(now),
        key,
        source_id,
        limit,
    )
    return [(int(row["id"]), str(row["title"])) for row in rows]
