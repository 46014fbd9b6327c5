"""The SQLite store: every SQL statement Kiji runs lives in this module.

One aiosqlite connection is the only writer (SQLite allows one writer at a time, and a
single connection makes that explicit instead of surfacing as SQLITE_BUSY under load).
WAL lets readers keep going while a batch is written. Schema changes are numbered
migrations recorded in `PRAGMA user_version`, applied in order inside a transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot import fts
from bot.textnorm import normalize_key

log = logging.getLogger(__name__)


# Each entry upgrades the schema from version N to N+1. Never edit a released entry:
# add a new one, so existing stores migrate forward.
MIGRATIONS: tuple[str, ...] = (
    # 1: posts, tags, categories, search index, metadata.
    """
    CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        jekyll_id TEXT NOT NULL,
        url TEXT NOT NULL,
        abs_url TEXT NOT NULL,
        slug TEXT NOT NULL,
        title TEXT NOT NULL,
        title_key TEXT NOT NULL,
        date_utc REAL NOT NULL,
        date_iso TEXT NOT NULL,
        author TEXT,
        excerpt TEXT,
        description TEXT,
        reading_time INTEGER NOT NULL,
        text TEXT NOT NULL,
        file_size INTEGER NOT NULL,
        file_mtime_ns INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        first_seen_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX posts_by_date ON posts (date_utc DESC);
    CREATE TABLE tags (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
    CREATE TABLE post_tags (
        tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        date_utc REAL NOT NULL,
        post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        PRIMARY KEY (tag_id, date_utc, post_id)
    ) WITHOUT ROWID;
    CREATE INDEX post_tags_by_post ON post_tags (post_id);
    CREATE TABLE categories (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
    CREATE TABLE post_categories (
        category_id INTEGER NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
        post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        PRIMARY KEY (category_id, post_id)
    ) WITHOUT ROWID;
    CREATE INDEX post_categories_by_post ON post_categories (post_id);
    CREATE VIRTUAL TABLE post_search USING fts5 (
        title, body, tokenize = 'unicode61 remove_diacritics 0', prefix = '1 2 3'
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)


@dataclass(frozen=True, slots=True)
class FileState:
    """What the store knows about a post file, to skip unchanged files cheaply."""

    size: int
    mtime_ns: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class PostRecord:
    """A fully prepared post, ready to be written (built by the ingest pipeline)."""

    path: str
    jekyll_id: str
    url: str
    abs_url: str
    slug: str
    title: str
    date_utc: float
    date_iso: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    author: str | None
    excerpt: str | None
    description: str | None
    reading_time: int
    text: str
    title_tokens: str
    body_tokens: str
    file: FileState


@dataclass(frozen=True, slots=True)
class Post:
    """A stored post as the rest of Kiji sees it."""

    id: int
    path: str
    jekyll_id: str
    url: str
    abs_url: str
    slug: str
    title: str
    date_utc: float
    date_iso: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    author: str | None
    excerpt: str | None
    description: str | None
    reading_time: int
    first_seen_at: float

    def scheduled(self, now: float | None = None) -> bool:
        """A post dated in the future is stored but not served until its date arrives."""
        return self.date_utc > (time.time() if now is None else now)

    def as_json(self, now: float | None = None) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path,
            "url": self.abs_url,
            "title": self.title,
            "date": self.date_iso,
            "slug": self.slug,
            "tags": list(self.tags),
            "categories": list(self.categories),
            "author": self.author,
            "excerpt": self.excerpt,
            "description": self.description,
            "reading_time": self.reading_time,
            "scheduled": self.scheduled(now),
        }


@dataclass(frozen=True, slots=True)
class TagCount:
    name: str
    key: str
    count: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    post: Post
    in_title: bool


_POST_COLUMNS = (
    "p.id, p.path, p.jekyll_id, p.url, p.abs_url, p.slug, p.title, p.date_utc, p.date_iso, "
    "p.author, p.excerpt, p.description, p.reading_time, p.first_seen_at"
)


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to fix."""


class Store:
    """Typed async access to the SQLite file: `Store(path)`, then `await store.connect()`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._connection: aiosqlite.Connection | None = None

    @property
    def _db(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise StoreError(f"the store {self.path} is not connected; call connect() first")
        return self._connection

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """A connected, migrated store (for the CLI and tests; the bot connects in setup_hook)."""
        store = cls(path)
        await store.connect()
        return store

    async def connect(self) -> None:
        """Connect, configure and migrate. Raises StoreError with a fix-it message."""
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the database {path}: {exc.strerror}") from exc
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except Exception as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        self._connection = db
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA busy_timeout = 5000")
            await self.migrate()
        except Exception as exc:
            self._connection = None
            await db.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot use the database {path}: {exc}") from exc

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def close(self) -> None:
        """Close the connection; safe to call twice (shutdown paths may overlap)."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        """Apply every migration newer than the file's `user_version`, each atomically."""
        current = await self.schema_version()
        if current > len(MIGRATIONS):
            raise StoreError(
                f"the database {self.path} has schema version {current}, newer than this Kiji "
                f"understands ({len(MIGRATIONS)}); upgrade Kiji or point KIJI_DB_PATH elsewhere"
            )
        for version in range(current, len(MIGRATIONS)):
            log.info("migrating %s to schema version %d", self.path, version + 1)
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(MIGRATIONS[version]):
                    await self._db.execute(statement)
                # PRAGMA takes no parameters; the value is our own integer.
                await self._db.execute(f"PRAGMA user_version = {version + 1:d}")
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    # -- metadata --------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- ingest ----------------------------------------------------------------------

    async def file_states(self) -> dict[str, FileState]:
        async with self._db.execute("SELECT path, file_size, file_mtime_ns, content_hash FROM posts") as cur:
            rows = await cur.fetchall()
        return {row[0]: FileState(row[1], row[2], row[3]) for row in rows}

    async def write_batch(
        self,
        upserts: Sequence[PostRecord] = (),
        removals: Iterable[str] = (),
        touches: Iterable[tuple[str, FileState]] = (),
        now: float | None = None,
    ) -> tuple[int, int, int]:
        """Write one batch atomically: a crash leaves either all of it or none of it.

        Returns (added, updated, removed). `touches` record a new mtime for files whose
        content hash did not change, so the next run skips them on size + mtime alone.
        """
        now = time.time() if now is None else now
        added = updated = removed = 0
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            for path, state in touches:
                await db.execute(
                    "UPDATE posts SET file_size = ?, file_mtime_ns = ? WHERE path = ?",
                    (state.size, state.mtime_ns, path),
                )
            for path in removals:
                post_id = await self._post_id(path)
                if post_id is not None:
                    await self._delete_post(post_id)
                    removed += 1
            for record in upserts:
                post_id = await self._post_id(record.path)
                if post_id is None:
                    post_id = await self._insert_post(record, now)
                    added += 1
                else:
                    await self._update_post(post_id, record, now)
                    updated += 1
                await self._write_terms(post_id, record)
            if removed:
                await self._drop_unused_terms()
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return added, updated, removed

    async def _post_id(self, path: str) -> int | None:
        async with self._db.execute("SELECT id FROM posts WHERE path = ?", (path,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else None

    async def _delete_post(self, post_id: int) -> None:
        await self._db.execute("DELETE FROM post_search WHERE rowid = ?", (post_id,))
        await self._db.execute("DELETE FROM posts WHERE id = ?", (post_id,))

    async def _insert_post(self, r: PostRecord, now: float) -> int:
        cur = await self._db.execute(
            "INSERT INTO posts (path, jekyll_id, url, abs_url, slug, title, title_key, date_utc, date_iso, "
            "author, excerpt, description, reading_time, text, file_size, file_mtime_ns, content_hash, "
            "first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.path,
                r.jekyll_id,
                r.url,
                r.abs_url,
                r.slug,
                r.title,
                normalize_key(r.title),
                r.date_utc,
                r.date_iso,
                r.author,
                r.excerpt,
                r.description,
                r.reading_time,
                r.text,
                r.file.size,
                r.file.mtime_ns,
                r.file.content_hash,
                now,
                now,
            ),
        )
        post_id = cur.lastrowid
        assert post_id is not None
        await self._db.execute(
            "INSERT INTO post_search (rowid, title, body) VALUES (?, ?, ?)", (post_id, r.title_tokens, r.body_tokens)
        )
        return post_id

    async def _update_post(self, post_id: int, r: PostRecord, now: float) -> None:
        await self._db.execute(
            "UPDATE posts SET jekyll_id = ?, url = ?, abs_url = ?, slug = ?, title = ?, title_key = ?, "
            "date_utc = ?, date_iso = ?, author = ?, excerpt = ?, description = ?, reading_time = ?, text = ?, "
            "file_size = ?, file_mtime_ns = ?, content_hash = ?, updated_at = ? WHERE id = ?",
            (
                r.jekyll_id,
                r.url,
                r.abs_url,
                r.slug,
                r.title,
                normalize_key(r.title),
                r.date_utc,
                r.date_iso,
                r.author,
                r.excerpt,
                r.description,
                r.reading_time,
                r.text,
                r.file.size,
                r.file.mtime_ns,
                r.file.content_hash,
                now,
                post_id,
            ),
        )
        await self._db.execute("DELETE FROM post_search WHERE rowid = ?", (post_id,))
        await self._db.execute(
            "INSERT INTO post_search (rowid, title, body) VALUES (?, ?, ?)", (post_id, r.title_tokens, r.body_tokens)
        )
        await self._db.execute("DELETE FROM post_tags WHERE post_id = ?", (post_id,))
        await self._db.execute("DELETE FROM post_categories WHERE post_id = ?", (post_id,))

    async def _term_id(self, table: str, name: str) -> int:
        # `table` is one of two literal table names chosen by the caller below, never user input.
        key = normalize_key(name)
        async with self._db.execute(f"SELECT id FROM {table} WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        if row:
            return int(row[0])
        cur = await self._db.execute(f"INSERT INTO {table} (key, name) VALUES (?, ?)", (key, name))
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def _write_terms(self, post_id: int, r: PostRecord) -> None:
        for position, tag in enumerate(_unique_by_key(r.tags)):
            tag_id = await self._term_id("tags", tag)
            await self._db.execute(
                "INSERT INTO post_tags (tag_id, date_utc, post_id, position) VALUES (?, ?, ?, ?)",
                (tag_id, r.date_utc, post_id, position),
            )
        for position, category in enumerate(_unique_by_key(r.categories)):
            category_id = await self._term_id("categories", category)
            await self._db.execute(
                "INSERT INTO post_categories (category_id, post_id, position) VALUES (?, ?, ?)",
                (category_id, post_id, position),
            )

    async def _drop_unused_terms(self) -> None:
        await self._db.execute("DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM post_tags)")
        await self._db.execute("DELETE FROM categories WHERE id NOT IN (SELECT category_id FROM post_categories)")

    async def finish_ingest(self, now: float | None = None) -> None:
        """Record when the store last caught up with the posts folder (shown by /about)."""
        await self.set_meta("last_ingest_at", repr(time.time() if now is None else now))

    # -- reading ---------------------------------------------------------------------

    async def _posts(self, sql: str, params: Sequence[object]) -> list[Post]:
        async with self._db.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return await self._hydrate(rows)

    async def _hydrate(self, rows: Iterable[Sequence[object]]) -> list[Post]:
        rows = list(rows)
        if not rows:
            return []
        ids = [int(row[0]) for row in rows]  # type: ignore[call-overload]
        tags = await self._names_by_post(
            "SELECT pt.post_id, t.name FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
            "WHERE pt.post_id IN ({marks}) ORDER BY pt.post_id, pt.position",
            ids,
        )
        categories = await self._names_by_post(
            "SELECT pc.post_id, c.name FROM post_categories pc JOIN categories c ON c.id = pc.category_id "
            "WHERE pc.post_id IN ({marks}) ORDER BY pc.post_id, pc.position",
            ids,
        )
        return [
            Post(
                id=int(row[0]),  # type: ignore[call-overload]
                path=str(row[1]),
                jekyll_id=str(row[2]),
                url=str(row[3]),
                abs_url=str(row[4]),
                slug=str(row[5]),
                title=str(row[6]),
                date_utc=float(row[7]),  # type: ignore[arg-type]
                date_iso=str(row[8]),
                tags=tuple(tags.get(int(row[0]), ())),  # type: ignore[call-overload]
                categories=tuple(categories.get(int(row[0]), ())),  # type: ignore[call-overload]
                author=row[9],  # type: ignore[arg-type]
                excerpt=row[10],  # type: ignore[arg-type]
                description=row[11],  # type: ignore[arg-type]
                reading_time=int(row[12]),  # type: ignore[call-overload]
                first_seen_at=float(row[13]),  # type: ignore[arg-type]
            )
            for row in rows
        ]

    async def _names_by_post(self, template: str, ids: list[int]) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {}
        # Placeholders only: the ids travel as parameters, in chunks under SQLite's limit.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = template.format(marks=", ".join("?" * len(chunk)))
            async with self._db.execute(sql, chunk) as cur:
                for post_id, name in await cur.fetchall():
                    result.setdefault(int(post_id), []).append(str(name))
        return result

    async def all_posts(self) -> list[Post]:
        """Every stored post, scheduled ones included, newest first."""
        return await self._posts(f"SELECT {_POST_COLUMNS} FROM posts p ORDER BY p.date_utc DESC, p.id DESC", ())

    async def get_post(self, post_id: int) -> Post | None:
        posts = await self._posts(f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.id = ?", (post_id,))
        return posts[0] if posts else None

    async def get_post_by_path(self, path: str) -> Post | None:
        posts = await self._posts(f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.path = ?", (path,))
        return posts[0] if posts else None

    async def get_text(self, post_id: int) -> str | None:
        async with self._db.execute("SELECT text FROM posts WHERE id = ?", (post_id,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def latest(self, limit: int, tag: str | None = None, now: float | None = None) -> list[Post]:
        """The newest visible posts, optionally only those with `tag`."""
        if tag:
            return await self.posts_by_tag(tag, limit, now=now)
        return await self._posts(
            f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.date_utc <= ? ORDER BY p.date_utc DESC, p.id DESC LIMIT ?",
            (_now(now), limit),
        )

    async def posts_by_tag(self, tag: str, limit: int, offset: int = 0, now: float | None = None) -> list[Post]:
        """Visible posts with `tag` (any spelling), newest first; walks the (tag, date) index."""
        return await self._posts(
            f"SELECT {_POST_COLUMNS} FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
            "WHERE pt.tag_id = (SELECT id FROM tags WHERE key = ?) AND pt.date_utc <= ? "
            "ORDER BY pt.date_utc DESC, pt.post_id DESC LIMIT ? OFFSET ?",
            (normalize_key(tag), _now(now), limit, offset),
        )

    async def count_posts_by_tag(self, tag: str, now: float | None = None) -> int:
        async with self._db.execute(
            "SELECT count(*) FROM post_tags WHERE tag_id = (SELECT id FROM tags WHERE key = ?) AND date_utc <= ?",
            (normalize_key(tag), _now(now)),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def random_post(self, tag: str | None = None, now: float | None = None) -> Post | None:
        if tag:
            sql = (
                f"SELECT {_POST_COLUMNS} FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
                "WHERE pt.tag_id = (SELECT id FROM tags WHERE key = ?) AND pt.date_utc <= ? "
                "ORDER BY random() LIMIT 1"
            )
            params: tuple[object, ...] = (normalize_key(tag), _now(now))
        else:
            sql = f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.date_utc <= ? ORDER BY random() LIMIT 1"
            params = (_now(now),)
        posts = await self._posts(sql, params)
        return posts[0] if posts else None

    async def tags(self, now: float | None = None) -> list[TagCount]:
        """Tags of visible posts with their post counts, most used first."""
        async with self._db.execute(
            "SELECT t.name, t.key, count(*) AS n FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
            "WHERE pt.date_utc <= ? GROUP BY t.id ORDER BY n DESC, t.key",
            (_now(now),),
        ) as cur:
            rows = await cur.fetchall()
        return [TagCount(str(name), str(key), int(n)) for name, key, n in rows]

    async def tag_by_key(self, tag: str) -> str | None:
        """The display name of a tag given any spelling of it, or None if unknown."""
        async with self._db.execute("SELECT name FROM tags WHERE key = ?", (normalize_key(tag),)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def titles(self, now: float | None = None) -> list[tuple[int, str]]:
        """(id, title) of visible posts, newest first: the pool for autocomplete and fuzzy matching."""
        async with self._db.execute(
            "SELECT id, title FROM posts WHERE date_utc <= ? ORDER BY date_utc DESC, id DESC", (_now(now),)
        ) as cur:
            rows = await cur.fetchall()
        return [(int(i), str(t)) for i, t in rows]

    async def search_titles(self, needle: str, limit: int, now: float | None = None) -> list[tuple[int, str]]:
        """Titles containing `needle` (NFKC/case-insensitive substring), newest first."""
        key = normalize_key(needle)
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        async with self._db.execute(
            "SELECT id, title FROM posts WHERE date_utc <= ? AND title_key LIKE ? ESCAPE '\\' "
            "ORDER BY date_utc DESC, id DESC LIMIT ?",
            (_now(now), f"%{escaped}%", limit),
        ) as cur:
            rows = await cur.fetchall()
        return [(int(i), str(t)) for i, t in rows]

    async def search(self, query: str, limit: int = 20, now: float | None = None) -> list[SearchHit]:
        """Posts matching every term of `query`; title matches first, then by relevance."""
        expression = fts.match_expression(query)
        if expression is None:
            return []
        async with self._db.execute(
            "WITH hits AS (SELECT rowid AS id, bm25(post_search, 5.0, 1.0) AS score "
            "              FROM post_search WHERE post_search MATCH ?), "
            "     title_hits AS (SELECT rowid AS id FROM post_search WHERE post_search MATCH ?) "
            f"SELECT {_POST_COLUMNS}, h.id IN (SELECT id FROM title_hits) AS in_title "
            "FROM hits h JOIN posts p ON p.id = h.id WHERE p.date_utc <= ? "
            "ORDER BY in_title DESC, h.score, p.date_utc DESC LIMIT ?",
            (expression, f"{{title}} : ({expression})", _now(now), limit),
        ) as cur:
            rows = list(await cur.fetchall())
        posts = await self._hydrate(row[:-1] for row in rows)
        return [SearchHit(post, bool(row[-1])) for post, row in zip(posts, rows, strict=True)]

    async def counts(self, now: float | None = None) -> tuple[int, int]:
        """(visible posts, tags in use by them)."""
        async with self._db.execute(
            "SELECT (SELECT count(*) FROM posts WHERE date_utc <= ?), "
            "(SELECT count(DISTINCT tag_id) FROM post_tags WHERE date_utc <= ?)",
            (_now(now), _now(now)),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _unique_by_key(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for name in names:
        key = normalize_key(name)
        if key and key not in seen:
            seen.add(key)
            unique.append(name)
    return unique


def _split_sql(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]
