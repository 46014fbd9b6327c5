"""Posts with their tags and categories: written a batch at a time by ingest, read by every command.

Coroutines of an `aiosqlite.Connection`, run by `Database.read` / `Database.write` inside
one transaction each (so a batch is written whole or not at all). `now` is always given by the
caller: what is visible depends on the store's clock, not on this module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import aiosqlite

from bot.content.textnorm import normalize_key
from bot.models import FileState, Post, PostRecord, StoredBody, TagCount
from bot.store import search_index, summary_cache
from bot.store.post_rows import POST_COLUMNS, posts
from bot.store.sqlhelpers import fetch_all, fetch_one, ids_by, rows_in, unique_by_key

# The post row's columns written from a PostRecord (besides path and the two timestamps).
_WRITTEN_COLUMNS = (
    "jekyll_id", "url", "abs_url", "slug", "title", "title_key", "date_utc", "date_iso", "author", "excerpt",
    "description", "reading_time", "text", "file_size", "file_mtime_ns", "content_hash", "outline",
    "derived_version", "canonical_key", "image",
)  # fmt: skip
_UPSERT_POST = (
    f"INSERT INTO posts (source_id, path, {', '.join(_WRITTEN_COLUMNS)}, first_seen_at, silent, updated_at) "
    f"VALUES ({', '.join('?' * (len(_WRITTEN_COLUMNS) + 5))}) ON CONFLICT (source_id, path) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in (*_WRITTEN_COLUMNS, "updated_at"))
)


def _post_values(r: PostRecord) -> tuple[object, ...]:
    """Values for _WRITTEN_COLUMNS, in order."""
    return (
        r.jekyll_id, r.url, r.abs_url, r.slug, r.title, normalize_key(r.title), r.date_utc, r.date_iso, r.author,
        r.excerpt, r.description, r.reading_time, r.text, r.file.size, r.file.mtime_ns, r.file.content_hash,
        r.outline, r.derived_version, r.canonical_key, r.image or "",  # "": looked for, none (NULL: not yet)
    )  # fmt: skip


def _first_seen(record: PostRecord, now: float) -> float:
    """When a new post counts as first seen: now, unless ingest says otherwise (a silent archive)."""
    return now if record.first_seen_at is None else record.first_seen_at


@dataclass(frozen=True, slots=True)
class Batch:
    """One ingest batch of one source's posts, written in one transaction (see Store.write_batch)."""

    source_id: int
    upserts: Sequence[PostRecord]
    removals: Sequence[str]
    touches: Sequence[tuple[str, FileState]]
    renames: Sequence[tuple[str, str]]
    now: float


# A post `p` is in the source asked for (two parameters: the source id, twice; None: any source).
_IN_SOURCE = "? IS NULL OR p.source_id = ?"
# The id of the tag with key `?`.
_TAG_ID = "SELECT id FROM tags WHERE key = ?"

# -- writing -------------------------------------------------------------------------


async def file_states(db: aiosqlite.Connection, source_id: int) -> Mapping[str, FileState]:
    async with db.execute(
        "SELECT path, file_size, file_mtime_ns, content_hash FROM posts WHERE source_id = ?", (source_id,)
    ) as cursor:
        cursor.row_factory = None  # plain tuples: see FileStates
        rows = await cursor.fetchall()
    return FileStates({path: (size, mtime_ns, content_hash) for path, size, mtime_ns, content_hash in rows})


class FileStates(Mapping[str, FileState]):
    """path → FileState of every stored post of a source, held as plain tuples.

    An ingest holds this for as long as it runs: at 100,000 posts, as many FileState (and
    sqlite3.Row) objects were tracked by the garbage collector and lengthened each of its
    full passes, which stop the event loop. Tuples of numbers and strings are not tracked;
    a FileState is made when one is asked for.
    """

    __slots__ = ("_states",)

    def __init__(self, states: dict[str, tuple[int, int, str]]) -> None:
        self._states = states

    def __getitem__(self, path: str) -> FileState:
        return FileState(*self._states[path])

    def get(self, path: str, default: FileState | None = None) -> FileState | None:  # type: ignore[override]
        state = self._states.get(path)
        return default if state is None else FileState(*state)

    def __contains__(self, path: object) -> bool:
        return path in self._states

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)


async def write_batch(db: aiosqlite.Connection, batch: Batch) -> tuple[int, int, int]:
    """Renames, touches, removals, then upserts; returns (added, updated, removed)."""
    added = updated = removed = 0
    source = batch.source_id
    for old_path, new_path in batch.renames:
        await db.execute("UPDATE posts SET path = ? WHERE source_id = ? AND path = ?", (new_path, source, old_path))
        await db.execute(
            "UPDATE OR IGNORE deliveries SET post_path = ? WHERE source_id = ? AND post_path = ?",
            (new_path, source, old_path),
        )
    await db.executemany(
        "UPDATE posts SET file_size = ?, file_mtime_ns = ? WHERE source_id = ? AND path = ?",
        [(state.size, state.mtime_ns, source, path) for path, state in batch.touches],
    )
    removed_ids = list((await _post_ids(db, source, list(batch.removals))).values())
    if removed_ids:
        await search_index.unindex(db, removed_ids)
        await db.executemany("DELETE FROM posts WHERE id = ?", [(post_id,) for post_id in removed_ids])
        removed = len(removed_ids)
    if batch.upserts:
        added, updated = await _write_posts(db, source, batch.upserts, batch.now)
    if removed or updated:  # an edit can drop a post's last use of a tag
        await db.execute("DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM post_tags)")
        await db.execute("DELETE FROM categories WHERE id NOT IN (SELECT category_id FROM post_categories)")
    return added, updated, removed


async def _post_ids(db: aiosqlite.Connection, source_id: int, paths: Sequence[str]) -> dict[str, int]:
    return await ids_by(db, "SELECT path, id FROM posts WHERE source_id = ? AND path IN ({marks})", paths, (source_id,))


async def _write_posts(
    db: aiosqlite.Connection, source_id: int, records: Sequence[PostRecord], now: float
) -> tuple[int, int]:
    """Upsert the posts, their tags, categories and index entries; returns (added, updated).

    Statement by statement over the whole batch (a few statements, not a dozen per post),
    and the index entries last: a statement that may need undoing (an upsert, an insert
    into a table with a unique key) opens a savepoint, and FTS5 flushes its pending terms
    to a new segment at every savepoint. Interleaved, that wrote one tiny segment per post
    and tripled the cost of a cold ingest.
    """
    known = await _post_ids(db, source_id, [r.path for r in records])
    if known:
        await summary_cache.forget_outdated(
            db, [(known[r.path], r.file.content_hash, r.derived_version) for r in records if r.path in known]
        )
        # tags, categories and the index entry are rewritten whole: cheaper than diffing
        changed = list(known.values())
        await search_index.unindex(db, changed)
        await db.executemany("DELETE FROM post_tags WHERE post_id = ?", [(post_id,) for post_id in changed])
        await db.executemany("DELETE FROM post_categories WHERE post_id = ?", [(post_id,) for post_id in changed])
    # first_seen_at and silent are only set on insert: the upsert's update leaves them alone
    await db.executemany(
        _UPSERT_POST,
        [
            (source_id, r.path, *_post_values(r), now if r.first_seen_at is None else r.first_seen_at, r.silent, now)
            for r in records
        ],
    )
    # the posts already stored kept their ids: only the new ones need looking up
    ids = known | await _post_ids(db, source_id, [r.path for r in records if r.path not in known])
    tag_ids = await _term_ids(db, "tags", [tag for r in records for tag in r.tags])
    await db.executemany(
        "INSERT INTO post_tags (tag_id, date_utc, post_id, position) VALUES (?, ?, ?, ?)",
        [
            (tag_ids[normalize_key(tag)], r.date_utc, ids[r.path], position)
            for r in records
            for position, tag in enumerate(unique_by_key(r.tags))
        ],
    )
    category_ids = await _term_ids(db, "categories", [name for r in records for name in r.categories])
    await db.executemany(
        "INSERT INTO post_categories (category_id, post_id, position) VALUES (?, ?, ?)",
        [
            (category_ids[normalize_key(name)], ids[r.path], position)
            for r in records
            for position, name in enumerate(unique_by_key(r.categories))
        ],
    )
    await search_index.index(db, [(ids[r.path], r.title_tokens, r.body_tokens) for r in records])
    return len(records) - len(known), len(known)


async def _term_ids(db: aiosqlite.Connection, table: str, names: Sequence[str]) -> dict[str, int]:
    """Ids of tags or categories by normalised key, creating the missing ones (first spelling wins)."""
    unique = unique_by_key(names)
    # `table` is one of two literal table names chosen by the caller, never user input.
    await db.executemany(
        f"INSERT INTO {table} (key, name) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        [(normalize_key(name), name) for name in unique],
    )
    return await ids_by(db, f"SELECT key, id FROM {table} WHERE key IN ({{marks}})", [normalize_key(n) for n in unique])


async def canonical_paths(db: aiosqlite.Connection, source_id: int) -> dict[str, str]:
    """canonical key → path of every stored post of a source that has one."""
    rows = await fetch_all(
        db, "SELECT canonical_key, path FROM posts WHERE source_id = ? AND canonical_key IS NOT NULL", (source_id,)
    )
    return {str(row["canonical_key"]): str(row["path"]) for row in rows}


async def paths_with_stale_derivations(db: aiosqlite.Connection, version: str, source_id: int) -> set[str]:
    rows = await fetch_all(
        db, "SELECT path FROM posts WHERE derived_version != ? AND source_id = ?", (version, source_id)
    )
    return {str(row["path"]) for row in rows}


async def paths_without_image(db: aiosqlite.Connection, source_id: int) -> set[str]:
    rows = await fetch_all(db, "SELECT path FROM posts WHERE image IS NULL AND source_id = ?", (source_id,))
    return {str(row["path"]) for row in rows}


async def fill_images(db: aiosqlite.Connection, source_id: int, images: Sequence[tuple[str, str]]) -> None:
    """Set the picture of posts stored before it was looked for, and nothing else of them."""
    await db.executemany(
        "UPDATE posts SET image = ? WHERE source_id = ? AND path = ? AND image IS NULL",
        [(image, source_id, path) for path, image in images],
    )


# -- reading -------------------------------------------------------------------------


def _first(found: list[Post]) -> Post | None:
    return found[0] if found else None


async def all_posts(db: aiosqlite.Connection) -> list[Post]:
    return await posts(db, f"SELECT {POST_COLUMNS} FROM posts p ORDER BY p.date_utc DESC, p.id DESC", ())


async def get_post(db: aiosqlite.Connection, post_id: int) -> Post | None:
    return _first(await posts(db, f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ?", (post_id,)))


async def get_post_by_path(db: aiosqlite.Connection, path: str, source_id: int | None) -> Post | None:
    """The post at `path` in source `source_id` (None: in any source, the first one's first)."""
    return _first(
        await posts(
            db,
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.path = ? AND ({_IN_SOURCE}) ORDER BY p.source_id LIMIT 1",
            (path, source_id, source_id),
        )
    )


async def get_text(db: aiosqlite.Connection, post_id: int) -> str | None:
    row = await fetch_one(db, "SELECT text FROM posts WHERE id = ?", (post_id,))
    return str(row["text"]) if row else None


async def get_text_and_outline(db: aiosqlite.Connection, post_id: int) -> StoredBody | None:
    row = await fetch_one(db, "SELECT text, outline, content_hash, derived_version FROM posts WHERE id = ?", (post_id,))
    if row is None:
        return None
    return StoredBody(str(row["text"]), str(row["outline"]), (str(row["content_hash"]), str(row["derived_version"])))


async def texts(db: aiosqlite.Connection, post_ids: Sequence[int]) -> dict[int, str]:
    return {
        int(row["id"]): str(row["text"])
        for row in await rows_in(db, "SELECT id, text FROM posts WHERE id IN ({marks})", post_ids)
    }


async def related_candidates(db: aiosqlite.Connection, post_id: int, limit: int, now: float) -> list[Post]:
    return await posts(
        db,
        f"SELECT {POST_COLUMNS} FROM posts p JOIN ("
        "  SELECT other.post_id AS id, count(*) AS shared FROM post_tags mine "
        "  JOIN post_tags other ON other.tag_id = mine.tag_id AND other.post_id != mine.post_id "
        "  WHERE mine.post_id = ? GROUP BY other.post_id "
        "  UNION ALL "
        "  SELECT other.post_id AS id, count(*) AS shared FROM post_categories mine "
        "  JOIN post_categories other ON other.category_id = mine.category_id AND other.post_id != mine.post_id "
        "  WHERE mine.post_id = ? GROUP BY other.post_id"
        ") c ON c.id = p.id WHERE p.date_utc <= ? GROUP BY p.id ORDER BY sum(c.shared) DESC, p.date_utc DESC, p.id "
        "LIMIT ?",
        (post_id, post_id, now, limit),
    )


async def latest(db: aiosqlite.Connection, limit: int, now: float, source_id: int | None) -> list[Post]:
    return await posts(
        db,
        f"SELECT {POST_COLUMNS} FROM posts p WHERE p.date_utc <= ? AND ({_IN_SOURCE}) "
        "ORDER BY p.date_utc DESC, p.id DESC LIMIT ?",
        (now, source_id, source_id, limit),
    )


async def posts_by_tag(
    db: aiosqlite.Connection, tag: str, limit: int, offset: int, now: float, source_id: int | None
) -> list[Post]:
    """Walks the (tag, date) index: no sort, however many posts the tag has."""
    return await posts(
        db,
        f"SELECT {POST_COLUMNS} FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
        f"WHERE pt.tag_id = ({_TAG_ID}) AND pt.date_utc <= ? AND ({_IN_SOURCE}) "
        "ORDER BY pt.date_utc DESC, pt.post_id DESC LIMIT ? OFFSET ?",
        (normalize_key(tag), now, source_id, source_id, limit, offset),
    )


def _tagged(select: str, tag: str, now: float, source_id: int | None) -> tuple[str, tuple[object, ...]]:
    """`SELECT {select}` over the visible posts with `tag` (of one blog when `source_id` is given).

    Read from the (tag, date) index alone when any blog will do: joining every tagged post to its
    row to test its source read a row of each (49 ms for a tag on 30,000 posts, against 1 ms).
    """
    if source_id is None:
        return (
            f"SELECT {select} FROM post_tags pt WHERE pt.tag_id = ({_TAG_ID}) AND pt.date_utc <= ?",
            (normalize_key(tag), now),
        )
    return (
        f"SELECT {select} FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
        f"WHERE pt.tag_id = ({_TAG_ID}) AND pt.date_utc <= ? AND p.source_id = ?",
        (normalize_key(tag), now, source_id),
    )


async def count_posts_by_tag(db: aiosqlite.Connection, tag: str, now: float, source_id: int | None) -> int:
    row = await fetch_one(db, *_tagged("count(*) AS n", tag, now, source_id))
    return int(row["n"]) if row else 0


async def random_post(db: aiosqlite.Connection, tag: str | None, now: float, source_id: int | None) -> Post | None:
    if tag:
        # one post id drawn from the tag's index entries, then one post read: sorting every joined
        # row of a tag on 30,000 posts by random() read all of their rows
        draw, params = _tagged("pt.post_id", tag, now, source_id)
        return _first(
            await posts(
                db, f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ({draw} ORDER BY random() LIMIT 1)", params
            )
        )
    return _first(
        await posts(
            db,
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.date_utc <= ? AND ({_IN_SOURCE}) ORDER BY random() LIMIT 1",
            (now, source_id, source_id),
        )
    )


async def tags(db: aiosqlite.Connection, now: float, source_id: int | None = None) -> list[TagCount]:
    if source_id is not None:
        rows = await fetch_all(
            db,
            "SELECT t.name, t.key, count(*) AS n FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
            "JOIN posts p ON p.id = pt.post_id WHERE pt.date_utc <= ? AND p.source_id = ? "
            "GROUP BY t.id ORDER BY n DESC, t.key",
            (now, source_id),
        )
        return [TagCount(str(row["name"]), str(row["key"]), int(row["n"])) for row in rows]
    rows = await fetch_all(
        db,
        "SELECT t.name, t.key, count(*) AS n FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
        "WHERE pt.date_utc <= ? GROUP BY t.id ORDER BY n DESC, t.key",
        (now,),
    )
    return [TagCount(str(row["name"]), str(row["key"]), int(row["n"])) for row in rows]


async def tag_by_key(db: aiosqlite.Connection, tag: str) -> str | None:
    row = await fetch_one(db, "SELECT name FROM tags WHERE key = ?", (normalize_key(tag),))
    return str(row["name"]) if row else None


async def titles(
    db: aiosqlite.Connection, limit: int, now: float, source_id: int | None = None
) -> list[tuple[int, str]]:
    """(id, title) of visible posts (of one blog, if given), newest first; `limit` -1 for all of them."""
    return _id_titles(
        await fetch_all(
            db,
            "SELECT id, title FROM posts WHERE date_utc <= ? AND (? IS NULL OR source_id = ?) "
            "ORDER BY date_utc DESC, id DESC LIMIT ?",
            (now, source_id, source_id, limit),
        )
    )


def _id_titles(rows: Iterable[sqlite3.Row]) -> list[tuple[int, str]]:
    return [(int(row["id"]), str(row["title"])) for row in rows]


async def count_visible(db: aiosqlite.Connection, now: float) -> int:
    row = await fetch_one(db, "SELECT count(*) AS n FROM posts WHERE date_utc <= ?", (now,))
    return int(row["n"]) if row else 0
