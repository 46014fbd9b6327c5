"""Posts with their tags and categories (PostgreSQL twin of `bot.store.posts`).

The same queries as SQLite's, in PostgreSQL's dialect: `$n` parameters, `= ANY($n)` for lists
(no chunks: a list is one array parameter), `($n::bigint IS NULL OR …)` for "any source".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from bot.content.textnorm import normalize_key
from bot.models import FileState, Post, PostRecord, StoredBody, TagCount
from bot.store.postgres import search_index, summary_cache
from bot.store.postgres.post_rows import POST_COLUMNS, posts
from bot.store.posts import _WRITTEN_COLUMNS, Batch, FileStates, _post_values
from bot.store.sqlhelpers import unique_by_key

_COLUMN_LIST = ", ".join(_WRITTEN_COLUMNS)
_UPSERT_POST = (
    f"INSERT INTO posts (source_id, path, {_COLUMN_LIST}, first_seen_at, silent, updated_at) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_WRITTEN_COLUMNS) + 6))}) "
    "ON CONFLICT (source_id, path) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in (*_WRITTEN_COLUMNS, "updated_at"))
)
_TAG_ID = "SELECT id FROM tags WHERE key = $1"


def _source_filter(at: int) -> str:
    """A post `p` in the source of parameter `$at` (NULL: any source)."""
    return f"(${at}::bigint IS NULL OR p.source_id = ${at})"


# -- writing -------------------------------------------------------------------------


async def file_states(db: asyncpg.Connection, source_id: int) -> Mapping[str, FileState]:
    rows = await db.fetch(
        "SELECT path, file_size, file_mtime_ns, content_hash FROM posts WHERE source_id = $1", source_id
    )
    return FileStates({row[0]: (row[1], row[2], row[3]) for row in rows})


async def write_batch(db: asyncpg.Connection, batch: Batch) -> tuple[int, int, int]:
    """Renames, touches, removals, then upserts; returns (added, updated, removed)."""
    added = updated = removed = 0
    source = batch.source_id
    for old_path, new_path in batch.renames:
        await db.execute("UPDATE posts SET path = $1 WHERE source_id = $2 AND path = $3", new_path, source, old_path)
        # SQLite's UPDATE OR IGNORE: a subscription that already has the new path keeps its own row
        await db.execute(
            "UPDATE deliveries d SET post_path = $1 WHERE d.source_id = $2 AND d.post_path = $3 AND NOT EXISTS "
            "(SELECT 1 FROM deliveries o WHERE o.subscription_id = d.subscription_id AND o.source_id = $2 "
            "AND o.post_path = $1)",
            new_path,
            source,
            old_path,
        )
    await db.executemany(
        "UPDATE posts SET file_size = $1, file_mtime_ns = $2 WHERE source_id = $3 AND path = $4",
        [(state.size, state.mtime_ns, source, path) for path, state in batch.touches],
    )
    removed_ids = list((await _post_ids(db, source, list(batch.removals))).values())
    if removed_ids:
        await search_index.unindex(db, removed_ids)
        await db.execute("DELETE FROM posts WHERE id = ANY($1::bigint[])", removed_ids)
        removed = len(removed_ids)
    if batch.upserts:
        added, updated = await _write_posts(db, source, batch.upserts, float(batch.now))
    if removed or updated:
        await db.execute("DELETE FROM tags t WHERE NOT EXISTS (SELECT 1 FROM post_tags pt WHERE pt.tag_id = t.id)")
        await db.execute(
            "DELETE FROM categories c WHERE NOT EXISTS (SELECT 1 FROM post_categories pc WHERE pc.category_id = c.id)"
        )
    return added, updated, removed


async def _post_ids(db: asyncpg.Connection, source_id: int, paths: Sequence[str]) -> dict[str, int]:
    if not paths:
        return {}
    rows = await db.fetch(
        "SELECT path, id FROM posts WHERE source_id = $1 AND path = ANY($2::text[])", source_id, list(paths)
    )
    return {str(row[0]): int(row[1]) for row in rows}


async def _write_posts(
    db: asyncpg.Connection, source_id: int, records: Sequence[PostRecord], now: float
) -> tuple[int, int]:
    """Upsert the posts, their tags, categories and index entries; returns (added, updated)."""
    known = await _post_ids(db, source_id, [r.path for r in records])
    if known:
        await summary_cache.forget_outdated(
            db, [(known[r.path], r.file.content_hash, r.derived_version) for r in records if r.path in known]
        )
        changed = list(known.values())
        await search_index.unindex(db, changed)
        await db.execute("DELETE FROM post_tags WHERE post_id = ANY($1::bigint[])", changed)
        await db.execute("DELETE FROM post_categories WHERE post_id = ANY($1::bigint[])", changed)
    # first_seen_at and silent are only set on insert: the upsert's update leaves them alone
    await db.executemany(
        _UPSERT_POST,
        [
            (
                source_id,
                r.path,
                *_post_values(r),
                float(now if r.first_seen_at is None else r.first_seen_at),
                int(r.silent),
                now,
            )
            for r in records
        ],
    )
    ids = known | await _post_ids(db, source_id, [r.path for r in records if r.path not in known])
    tag_ids = await _term_ids(db, "tags", [tag for r in records for tag in r.tags])
    await db.executemany(
        "INSERT INTO post_tags (tag_id, date_utc, post_id, position) VALUES ($1, $2, $3, $4)",
        [
            (tag_ids[normalize_key(tag)], r.date_utc, ids[r.path], position)
            for r in records
            for position, tag in enumerate(unique_by_key(r.tags))
        ],
    )
    category_ids = await _term_ids(db, "categories", [name for r in records for name in r.categories])
    await db.executemany(
        "INSERT INTO post_categories (category_id, post_id, position) VALUES ($1, $2, $3)",
        [
            (category_ids[normalize_key(name)], ids[r.path], position)
            for r in records
            for position, name in enumerate(unique_by_key(r.categories))
        ],
    )
    await search_index.index(db, [(ids[r.path], r.title_tokens, r.body_tokens) for r in records])
    return len(records) - len(known), len(known)


async def _term_ids(db: asyncpg.Connection, table: str, names: Sequence[str]) -> dict[str, int]:
    """Ids of tags or categories by normalised key, creating the missing ones (first spelling wins)."""
    unique = unique_by_key(names)
    if not unique:
        return {}
    keys = [normalize_key(name) for name in unique]
    # `table` is one of two literal table names chosen by the caller, never user input.
    await db.execute(
        f"INSERT INTO {table} (key, name) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO NOTHING",
        keys,
        list(unique),
    )
    rows = await db.fetch(f"SELECT key, id FROM {table} WHERE key = ANY($1::text[])", keys)
    return {str(row[0]): int(row[1]) for row in rows}


async def canonical_paths(db: asyncpg.Connection, source_id: int) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT canonical_key, path FROM posts WHERE source_id = $1 AND canonical_key IS NOT NULL", source_id
    )
    return {str(row[0]): str(row[1]) for row in rows}


async def paths_with_stale_derivations(db: asyncpg.Connection, version: str, source_id: int) -> set[str]:
    rows = await db.fetch("SELECT path FROM posts WHERE derived_version != $1 AND source_id = $2", version, source_id)
    return {str(row[0]) for row in rows}


async def paths_without_image(db: asyncpg.Connection, source_id: int) -> set[str]:
    rows = await db.fetch("SELECT path FROM posts WHERE image IS NULL AND source_id = $1", source_id)
    return {str(row[0]) for row in rows}


async def fill_images(db: asyncpg.Connection, source_id: int, images: Sequence[tuple[str, str]]) -> None:
    """Set the picture of posts stored before it was looked for, and nothing else of them."""
    await db.executemany(
        "UPDATE posts SET image = $1 WHERE source_id = $2 AND path = $3 AND image IS NULL",
        [(image, source_id, path) for path, image in images],
    )


# -- reading -------------------------------------------------------------------------


def _first(found: list[Post]) -> Post | None:
    return found[0] if found else None


async def all_posts(db: asyncpg.Connection) -> list[Post]:
    return await posts(db, f"SELECT {POST_COLUMNS} FROM posts p ORDER BY p.date_utc DESC, p.id DESC", ())


async def get_post(db: asyncpg.Connection, post_id: int) -> Post | None:
    return _first(await posts(db, f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = $1", (post_id,)))


async def get_post_by_path(db: asyncpg.Connection, path: str, source_id: int | None) -> Post | None:
    return _first(
        await posts(
            db,
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.path = $1 AND {_source_filter(2)} "
            "ORDER BY p.source_id LIMIT 1",
            (path, source_id),
        )
    )


async def get_text(db: asyncpg.Connection, post_id: int) -> str | None:
    text = await db.fetchval("SELECT text FROM posts WHERE id = $1", post_id)
    return None if text is None else str(text)


async def get_text_and_outline(db: asyncpg.Connection, post_id: int) -> StoredBody | None:
    row = await db.fetchrow("SELECT text, outline, content_hash, derived_version FROM posts WHERE id = $1", post_id)
    if row is None:
        return None
    return StoredBody(str(row["text"]), str(row["outline"]), (str(row["content_hash"]), str(row["derived_version"])))


async def texts(db: asyncpg.Connection, post_ids: Sequence[int]) -> dict[int, str]:
    rows = await db.fetch("SELECT id, text FROM posts WHERE id = ANY($1::bigint[])", list(post_ids))
    return {int(row["id"]): str(row["text"]) for row in rows}


async def related_candidates(db: asyncpg.Connection, post_id: int, limit: int, now: float) -> list[Post]:
    return await posts(
        db,
        f"SELECT {POST_COLUMNS} FROM posts p JOIN ("
        "  SELECT other.post_id AS id, count(*) AS shared FROM post_tags mine "
        "  JOIN post_tags other ON other.tag_id = mine.tag_id AND other.post_id != mine.post_id "
        "  WHERE mine.post_id = $1 GROUP BY other.post_id "
        "  UNION ALL "
        "  SELECT other.post_id AS id, count(*) AS shared FROM post_categories mine "
        "  JOIN post_categories other ON other.category_id = mine.category_id AND other.post_id != mine.post_id "
        "  WHERE mine.post_id = $1 GROUP BY other.post_id"
        ") c ON c.id = p.id WHERE p.date_utc <= $2 GROUP BY p.id ORDER BY sum(c.shared) DESC, p.date_utc DESC, p.id "
        "LIMIT $3",
        (post_id, float(now), limit),
    )


async def latest(db: asyncpg.Connection, limit: int, now: float, source_id: int | None) -> list[Post]:
    return await posts(
        db,
        f"SELECT {POST_COLUMNS} FROM posts p WHERE p.date_utc <= $1 AND {_source_filter(2)} "
        "ORDER BY p.date_utc DESC, p.id DESC LIMIT $3",
        (float(now), source_id, _limit(limit)),
    )


async def posts_by_tag(
    db: asyncpg.Connection, tag: str, limit: int, offset: int, now: float, source_id: int | None
) -> list[Post]:
    return await posts(
        db,
        f"SELECT {POST_COLUMNS} FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
        f"WHERE pt.tag_id = ({_TAG_ID}) AND pt.date_utc <= $2 AND {_source_filter(3)} "
        "ORDER BY pt.date_utc DESC, pt.post_id DESC LIMIT $4 OFFSET $5",
        (normalize_key(tag), float(now), source_id, _limit(limit), offset),
    )


def _tagged(select: str, tag: str, now: float, source_id: int | None) -> tuple[str, tuple[object, ...]]:
    """`SELECT {select}` over the visible posts with `tag` (of one blog when `source_id` is given)."""
    if source_id is None:
        return (
            f"SELECT {select} FROM post_tags pt WHERE pt.tag_id = ({_TAG_ID}) AND pt.date_utc <= $2",
            (normalize_key(tag), float(now)),
        )
    return (
        f"SELECT {select} FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
        f"WHERE pt.tag_id = ({_TAG_ID}) AND pt.date_utc <= $2 AND p.source_id = $3",
        (normalize_key(tag), float(now), source_id),
    )


async def count_posts_by_tag(db: asyncpg.Connection, tag: str, now: float, source_id: int | None) -> int:
    sql, params = _tagged("count(*)", tag, now, source_id)
    return int(await db.fetchval(sql, *params) or 0)


async def random_post(db: asyncpg.Connection, tag: str | None, now: float, source_id: int | None) -> Post | None:
    if tag:
        draw, params = _tagged("pt.post_id", tag, now, source_id)
        return _first(
            await posts(
                db, f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ({draw} ORDER BY random() LIMIT 1)", params
            )
        )
    return _first(
        await posts(
            db,
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.date_utc <= $1 AND {_source_filter(2)} "
            "ORDER BY random() LIMIT 1",
            (float(now), source_id),
        )
    )


async def tags(db: asyncpg.Connection, now: float, source_id: int | None = None) -> list[TagCount]:
    if source_id is not None:
        rows = await db.fetch(
            "SELECT t.name, t.key, count(*) AS n FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
            "JOIN posts p ON p.id = pt.post_id WHERE pt.date_utc <= $1 AND p.source_id = $2 "
            "GROUP BY t.id ORDER BY n DESC, t.key",
            float(now),
            source_id,
        )
    else:
        rows = await db.fetch(
            "SELECT t.name, t.key, count(*) AS n FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
            "WHERE pt.date_utc <= $1 GROUP BY t.id ORDER BY n DESC, t.key",
            float(now),
        )
    return [TagCount(str(row["name"]), str(row["key"]), int(row["n"])) for row in rows]


async def tag_by_key(db: asyncpg.Connection, tag: str) -> str | None:
    name = await db.fetchval("SELECT name FROM tags WHERE key = $1", normalize_key(tag))
    return None if name is None else str(name)


async def titles(db: asyncpg.Connection, limit: int, now: float, source_id: int | None = None) -> list[tuple[int, str]]:
    """(id, title) of visible posts (of one blog, if given), newest first; `limit` -1 for all of them."""
    rows = await db.fetch(
        "SELECT id, title FROM posts p WHERE date_utc <= $1 AND "
        f"{_source_filter(2)} ORDER BY date_utc DESC, id DESC LIMIT $3",
        float(now),
        source_id,
        _limit(limit),
    )
    return [(int(row["id"]), str(row["title"])) for row in rows]


async def count_visible(db: asyncpg.Connection, now: float) -> int:
    return int(await db.fetchval("SELECT count(*) FROM posts WHERE date_utc <= $1", float(now)) or 0)


def _limit(limit: int) -> int | None:
    """SQLite's LIMIT -1 (no limit) is PostgreSQL's LIMIT NULL."""
    return None if limit < 0 else limit
