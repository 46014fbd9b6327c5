"""Full-text search on PostgreSQL with the answers of SQLite's FTS5 index (twin of `bot.store.search_index`).

What is indexed and what is asked are Kiji's own tokens (`bot.content.search_tokens`), as on
SQLite. Each post's tokens become one `tsvector` written as a literal (no text search parser
re-reads them): the title's tokens at positions 1…T with weight A, the body's from T+2 (the gap
keeps a phrase from running from the title into the body). A query's phrases become `tsquery`
phrases (`<->`, `:*` for a prefix, `:A` for "in the title"), matched through a GIN index.

`tsvector` has limits FTS5 has not: positions stop at 16,383, a lexeme keeps at most 256 of
them, a lexeme is at most 2,046 bytes. A post within them is `exact`: its vector answers
phrases exactly. A longer one keeps a vector of its lexemes only, found by an AND of the query's
tokens and then checked in Python against its stored tokens, so no post is found or missed by
the limits.

Ranking: the order is FTS5's `bm25(post_search, 5.0, 1.0)` (k1 = 1.2, b = 0.75, title hits
weigh 5, IDF floored at 1e-6), computed here in Python from the same statistics FTS5 uses (rows,
total tokens, rows matching each phrase, each post's size and its phrase instances per column),
with the same floating-point steps in the same order, so both backends give the same scores
bit for bit (tests/bot/store/test_pg_search_parity.py). Ties (same groups, score and date) go
by post id, ascending.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

import asyncpg

from bot.content import search_tokens
from bot.content.textnorm import normalize_key
from bot.models import SearchHit
from bot.store.postgres.post_rows import posts_by_ids
from bot.store.postgres.search_loose import LooseWalk
from bot.store.search_index import RANKED_SEARCH_MAX, TITLE_NEEDLE_MAX

__all__ = ["RANKED_SEARCH_MAX", "TITLE_NEEDLE_MAX", "index", "matches", "search", "search_titles", "unindex"]

MAX_POSITION = 16383
MAX_POSITIONS_PER_LEXEME = 256
MAX_LEXEME_BYTES = 2046
NOTHING = "('kiji' & !'kiji')"  # a tsquery no vector matches
# FTS5's bm25 constants and Kiji's column weights (title, body).
K1, B = 1.2, 0.75
TITLE_WEIGHT, BODY_WEIGHT = 5.0, 1.0


# -- indexing ------------------------------------------------------------------------


def _quoted(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _escaped(tokens: str) -> str:
    """`tokens` with every quote and backslash escaped as a tsvector literal's quoted lexeme needs."""
    return tokens.replace("\\", "\\\\").replace("'", "''")


# "':<position> '" after each quoted lexeme (title positions weigh A), made once: joined in C below
_TITLE_AFTER = [f"':{at}A '" for at in range(MAX_POSITION + 1)]
_BODY_AFTER = [f"':{at} '" for at in range(MAX_POSITION + 1)]


def _vector(title_tokens: str, body_tokens: str) -> tuple[str, bool, int, int, Iterable[str]]:
    """The tsvector literal of a post's tokens, whether it holds every position exactly, the two sizes, and
    the distinct tokens.

    An exact literal lists each token at its position (`'ai':3 'x':4 'ai':9`); PostgreSQL's input
    merges a lexeme's positions itself, so no Python loop runs per token (6,000 tokens a post).
    """
    title, body = title_tokens.split(), body_tokens.split()
    counts = Counter(title)
    counts.update(body)
    exact = (
        len(title) + 1 + len(body) <= MAX_POSITION
        and max(counts.values(), default=0) <= MAX_POSITIONS_PER_LEXEME
        and not any(len(token.encode()) > MAX_LEXEME_BYTES for token in counts if len(token) > MAX_LEXEME_BYTES // 4)
    )
    if not exact:
        vector = " ".join(_quoted(token) for token in counts if len(token.encode()) <= MAX_LEXEME_BYTES)
        return vector, False, len(title), len(body), counts.keys()
    pieces = chain(
        chain.from_iterable(zip(_escaped(title_tokens).split(), islice(_TITLE_AFTER, 1, None), strict=False)),
        chain.from_iterable(
            zip(_escaped(body_tokens).split(), islice(_BODY_AFTER, len(title) + 2, None), strict=False)
        ),
    )
    vector = "'" + "".join(pieces)
    return (vector[:-2] if len(vector) > 1 else ""), True, len(title), len(body), counts.keys()


async def index(db: asyncpg.Connection, entries: Sequence[tuple[int, str, str]]) -> None:
    """Index (post id, title tokens, body tokens); the post must not be indexed already."""
    if not entries:
        return
    rows = []
    lexemes: set[str] = set()
    for post_id, title_tokens, body_tokens in entries:
        vector, exact, title_size, body_size, distinct = _vector(title_tokens, body_tokens)
        rows.append((post_id, title_tokens, body_tokens, title_size, body_size, exact, vector))
        lexemes.update(distinct)
    # one statement for the whole batch: one round trip, and the totals' trigger runs once
    await db.execute(
        "INSERT INTO post_search (post_id, title_tokens, body_tokens, title_size, body_size, exact, lexemes) "
        "SELECT i, tt, bt, ts, bs, e, v::tsvector FROM unnest($1::bigint[], $2::text[], $3::text[], $4::integer[], "
        "$5::integer[], $6::boolean[], $7::text[]) AS u(i, tt, bt, ts, bs, e, v)",
        *(list(column) for column in zip(*rows, strict=True)),
    )
    await db.execute(
        "INSERT INTO search_lexicon (lexeme) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        sorted(token for token in lexemes if len(token.encode()) <= MAX_LEXEME_BYTES),
    )


async def unindex(db: asyncpg.Connection, post_ids: Sequence[int]) -> None:
    await db.execute("DELETE FROM post_search WHERE post_id = ANY($1::bigint[])", list(post_ids))


# -- queries -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phrase:
    """One FTS5 phrase of search_tokens: tokens in a row, the last one a prefix when `prefix`."""

    tokens: tuple[str, ...]
    prefix: bool

    @classmethod
    def parse(cls, quoted: str) -> Phrase:
        prefix = quoted.endswith("*")
        return cls(tuple(quoted.rstrip("*").strip('"').split(" ")), prefix)

    def tsquery(self, title_only: bool = False) -> str:
        """The tsquery of this phrase for the exact posts (none of which holds a token too long for a lexeme)."""
        if any(len(token.encode()) > MAX_LEXEME_BYTES for token in self.tokens):
            return NOTHING
        weight = "A" if title_only else ""
        parts = [f"{_quoted(token)}:{weight}" if weight else _quoted(token) for token in self.tokens]
        if self.prefix:
            parts[-1] = f"{_quoted(self.tokens[-1])}:*{weight}"
        return "(" + " <-> ".join(parts) + ")"

    def loose_tsquery(self) -> str | None:
        """The AND of this phrase's tokens that a lexeme can hold (None: none can), for the posts past the limits."""
        parts = [_quoted(token) for token in self.tokens if len(token.encode()) <= MAX_LEXEME_BYTES]
        if self.prefix and parts and len(self.tokens[-1].encode()) <= MAX_LEXEME_BYTES:
            parts[-1] += ":*"
        return "(" + " & ".join(parts) + ")" if parts else None

    def count_in(self, tokens: str) -> int:
        """`len(self.starts(tokens.split(" ")))` for tokens joined by single spaces, counted by one regex in C
        (a lookahead, so overlapping instances count, as `starts` finds them)."""
        return sum(1 for _ in _phrase_pattern(self.tokens, self.prefix).finditer(tokens)) if tokens else 0

    def starts(self, tokens: Sequence[str]) -> list[int]:
        """Indexes in `tokens` where this phrase begins."""
        size = len(self.tokens)
        last = size - 1
        found = []
        for at in range(len(tokens) - last):
            if all(tokens[at + j] == self.tokens[j] for j in range(last)) and (
                tokens[at + last].startswith(self.tokens[last])
                if self.prefix
                else tokens[at + last] == self.tokens[last]
            ):
                found.append(at)
        return found


@functools.lru_cache(maxsize=256)
def _phrase_pattern(tokens: tuple[str, ...], prefix: bool) -> re.Pattern[str]:
    """Where a phrase starts among tokens joined by single spaces: whole tokens, the last one a prefix if asked."""
    phrase = re.escape(" ".join(tokens)) + ("[^ ]*" if prefix else "")
    return re.compile(f"(?=(?<![^ ]){phrase}(?![^ ]))")


def _phrases(expression: str | None, separator: str) -> list[Phrase]:
    return [] if expression is None else [Phrase.parse(part) for part in expression.split(separator)]


@dataclass(slots=True)
class DocStats:
    """One post's instances of each phrase: (in the title, in the body), and its size in tokens."""

    size: int
    counts: list[tuple[int, int]]  # per query phrase
    phrase_hit: bool  # any phrase of the phrase expression occurs

    @property
    def matches(self) -> bool:
        return all(title + body for title, body in self.counts)

    @property
    def in_title(self) -> bool:
        return all(title for title, _ in self.counts)


def _stats(title_tokens: str, body_tokens: str, phrases: Sequence[Phrase], alternatives: Sequence[Phrase]) -> DocStats:
    """The stats of a post past the limits, from its stored tokens: `Phrase.starts`'s counts, found by `re` in C
    (a Python loop over a long post's 6,000+ tokens, for each of hundreds of such posts, took seconds)."""
    title_list, body_list = title_tokens.split(), body_tokens.split()
    title, body = " ".join(title_list), " ".join(body_list)
    counts = [(p.count_in(title), p.count_in(body)) for p in phrases]
    hit = any(p.count_in(title) or p.count_in(body) for p in alternatives)
    return DocStats(len(title_list) + len(body_list), counts, hit)


def _stats_from_positions(
    title_size: int,
    body_size: int,
    lexemes: dict[str, Sequence[int]],
    phrases: Sequence[Phrase],
    alternatives: Sequence[Phrase],
) -> DocStats:
    """DocStats of an exact post from the positions of the query's lexemes in its vector."""

    def places(token: str, prefix: bool) -> set[int]:
        if not prefix:
            return set(lexemes.get(token, ()))
        return {at for lexeme, ats in lexemes.items() if lexeme.startswith(token) for at in ats}

    def starts(phrase: Phrase) -> Sequence[int]:
        sets = [places(t, phrase.prefix and j == len(phrase.tokens) - 1) for j, t in enumerate(phrase.tokens)]
        if len(sets) == 1:  # one token (most queries): its places are where it starts
            return list(sets[0])
        return [at for at in sets[0] if all(at + j in sets[j] for j in range(1, len(sets)))]

    counts = []
    for phrase in phrases:
        found = starts(phrase)
        in_title = sum(1 for at in found if at <= title_size)
        counts.append((in_title, len(found) - in_title))
    return DocStats(title_size + body_size, counts, any(starts(p) for p in alternatives))


def bm25(stats: DocStats, idf: Sequence[float], avgdl: float) -> float:
    """FTS5's bm25() for one row, step by step as fts5Bm25Function computes it."""
    score = 0.0
    size = float(stats.size)
    for i, (title, body) in enumerate(stats.counts):
        freq = title * TITLE_WEIGHT + body * BODY_WEIGHT  # whole numbers: exact in any order, as FTS5 sums them
        score += idf[i] * ((freq * (K1 + 1.0)) / (freq + K1 * (1 - B + B * size / avgdl)))
    return -1.0 * score


def _idf(rows: int, hits: int) -> float:
    value = math.log((rows - hits + 0.5) / (hits + 0.5))
    return 1e-6 if value <= 0.0 else value


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
    if matched > ranked_max:  # unranked: the posts past the limits are checked only as far as the page needs
        loose_walk = await LooseWalk.load(
            db,
            loose_any,
            now,
            source_id,
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
    checked: dict[int, DocStats] = {}
    for row in await db.fetch(
        "SELECT post_id, title_tokens, body_tokens FROM post_search WHERE NOT exact "
        "AND ($1::tsquery IS NULL OR lexemes @@ $1::tsquery)",
        loose_any,
    ):
        stats = _stats(row["title_tokens"], row["body_tokens"], phrases, alternatives)
        for i, (title, body) in enumerate(stats.counts):
            hits[i] += 1 if title + body else 0
        if stats.matches:
            checked[int(row["post_id"])] = stats
            matched += 1
    visible = await _visible(db, list(checked), now, source_id)
    loose_hits = {post_id: stats for post_id, stats in checked.items() if post_id in visible}
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


async def _visible(db: asyncpg.Connection, post_ids: list[int], now: float, source_id: int | None) -> dict[int, float]:
    """post id → date of those of `post_ids` that are visible now (and of the source asked for)."""
    if not post_ids:
        return {}
    rows = await db.fetch(
        "SELECT id, date_utc FROM posts p WHERE p.id = ANY($1::bigint[]) AND p.date_utc <= $2 "
        "AND ($3::bigint IS NULL OR p.source_id = $3)",
        post_ids,
        float(now),
        source_id,
    )
    return {int(row["id"]): float(row["date_utc"]) for row in rows}


async def _exact_candidates(
    db: asyncpg.Connection,
    every: str,
    phrases: Sequence[Phrase],
    alternatives: Sequence[Phrase],
    now: float,
    source_id: int | None,
) -> dict[int, tuple[DocStats, float]]:
    """The visible exact posts matching `every`, with their stats read from their vectors' positions."""
    wanted = {t for p in (*phrases, *alternatives) for t in p.tokens}
    for prefix in sorted({p.tokens[-1] for p in (*phrases, *alternatives) if p.prefix}):
        # the lexemes a prefix stands for: one range of the lexicon's index (C collation: byte order)
        wanted.update(row[0] for row in await db.fetch("SELECT lexeme FROM search_lexicon WHERE lexeme ^@ $1", prefix))
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
        sorted(token for token in wanted if len(token.encode()) <= MAX_LEXEME_BYTES),
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
