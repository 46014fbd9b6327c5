"""The SQLite store: every SQL statement Kiji runs lives in this module.

One aiosqlite connection is the only writer (SQLite allows one writer at a time, and a
single connection makes that explicit instead of surfacing as SQLITE_BUSY under load).
WAL lets readers keep going while a batch is written. Schema changes are numbered
migrations recorded in `PRAGMA user_version`, applied in order inside a transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.content import search_tokens
from bot.content.textnorm import normalize_key
from bot.models import Delivery, FileState, Post, PostRecord, SearchHit, StoredBody, Subscription, TagCount

log = logging.getLogger(__name__)


# Longest title-search needle: longer than any title, short enough for SQLite's LIKE.
TITLE_NEEDLE_MAX = 1000

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
        title, body, tokenize = 'unicode61 remove_diacritics 0'
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: summaries computed at ingest (extractive) or on demand (a language model), each
    # tied to the content hash and producer version it was made from.
    """
    CREATE TABLE summaries (
        post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
        length TEXT NOT NULL,
        source TEXT NOT NULL,
        version TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        sentences TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (post_id, length, source)
    ) WITHOUT ROWID;
    """,
    # 3: channel subscriptions and the delivery ledger that makes announcements exactly-once.
    """
    CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL UNIQUE,
        channel_kind TEXT NOT NULL,
        tags TEXT NOT NULL,
        categories TEXT NOT NULL,
        mention_role_id INTEGER,
        created_at REAL NOT NULL,
        created_by INTEGER,
        paused_reason TEXT,
        paused_at REAL,
        last_delivery_at REAL
    );
    CREATE INDEX subscriptions_by_guild ON subscriptions (guild_id);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
        post_path TEXT NOT NULL,
        post_id INTEGER REFERENCES posts (id) ON DELETE SET NULL,
        post_date_utc REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'skipped')),
        nonce TEXT NOT NULL,
        message_id INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        sent_at REAL,
        UNIQUE (subscription_id, post_path)
    );
    CREATE INDEX deliveries_pending ON deliveries (state, subscription_id, post_date_utc);
    """,
    # 4: covering indexes so hot paths never read the wide rows (whose cleaned text spills
    # into overflow pages): title autocomplete newest first, and the ingest's file check.
    """
    CREATE INDEX posts_title_lookup ON posts (date_utc DESC, id DESC, title_key, title);
    CREATE INDEX posts_file_state ON posts (path, file_size, file_mtime_ns, content_hash);
    """,
    # 5: summaries move off the ingest path (made on first request, then cached), so a post
    # keeps its cleaned body's structure to be summarised from; and which cleaner/tokeniser
    # made a row's derived columns, so a new one re-derives them. '' = made before this.
    """
    ALTER TABLE posts ADD COLUMN outline TEXT NOT NULL DEFAULT '';
    ALTER TABLE posts ADD COLUMN derived_version TEXT NOT NULL DEFAULT '';
    """,
)


_SUBSCRIPTION_COLUMNS = (
    "id, guild_id, channel_id, channel_kind, tags, categories, mention_role_id, created_at, "
    "paused_reason, paused_at, last_delivery_at"
)
_DELIVERY_COLUMNS = (
    "d.id, d.subscription_id, s.guild_id, s.channel_id, d.post_path, d.post_id, d.post_date_utc, d.state, "
    "d.nonce, d.message_id, d.attempts, d.last_error, d.created_at, d.sent_at"
)
# A post matches a subscription when the subscription has no filter, or the post has any
# of its tag keys or category keys (JSON arrays in the subscription row).
_MATCHES_SUBSCRIPTION = (
    "((s.tags = '[]' AND s.categories = '[]') "
    "OR EXISTS (SELECT 1 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
    "           WHERE pt.post_id = p.id AND t.key IN (SELECT value FROM json_each(s.tags))) "
    "OR EXISTS (SELECT 1 FROM post_categories pc JOIN categories c ON c.id = pc.category_id "
    "           WHERE pc.post_id = p.id AND c.key IN (SELECT value FROM json_each(s.categories))))"
)


def delivery_nonce(subscription_id: int, post_path: str) -> str:
    """Discord's message nonce for a pair: the same on every retry, so Discord drops repeats."""
    digest = hashlib.blake2b(f"{subscription_id}:{post_path}".encode(), digest_size=12).hexdigest()
    return digest[:25]


# The post row's columns written from a PostRecord (besides path and the two timestamps).
_WRITTEN_COLUMNS = (
    "jekyll_id", "url", "abs_url", "slug", "title", "title_key", "date_utc", "date_iso", "author", "excerpt",
    "description", "reading_time", "text", "file_size", "file_mtime_ns", "content_hash", "outline",
    "derived_version",
)  # fmt: skip
_UPSERT_POST = (
    f"INSERT INTO posts (path, {', '.join(_WRITTEN_COLUMNS)}, first_seen_at, updated_at) "
    f"VALUES ({', '.join('?' * (len(_WRITTEN_COLUMNS) + 3))}) ON CONFLICT (path) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in (*_WRITTEN_COLUMNS, "updated_at"))
)


def _post_values(r: PostRecord) -> tuple[object, ...]:
    """Values for _WRITTEN_COLUMNS, in order."""
    return (
        r.jekyll_id, r.url, r.abs_url, r.slug, r.title, normalize_key(r.title), r.date_utc, r.date_iso, r.author,
        r.excerpt, r.description, r.reading_time, r.text, r.file.size, r.file.mtime_ns, r.file.content_hash,
        r.outline, r.derived_version,
    )  # fmt: skip


_POST_COLUMNS = (
    "p.id, p.path, p.jekyll_id, p.url, p.abs_url, p.slug, p.title, p.date_utc, p.date_iso, "
    "p.author, p.excerpt, p.description, p.reading_time"
)


CACHE_SECONDS = 60.0
# Above this many matches, search stops ranking by bm25 (see Store.search).
RANKED_SEARCH_MAX = 2000

_Method = TypeVar("_Method", bound=Callable[..., Awaitable[Any]])


def _serialized(method: _Method) -> _Method:
    """Run the method while no other task uses the connection.

    All tasks share one connection, and a transaction belongs to the connection, not the
    task: without this, a read from one task in the middle of another task's BEGIN…COMMIT
    would see (or a write would join) that unfinished transaction. Re-entrant for the
    owning task, so store methods may call each other.
    """

    @functools.wraps(method)
    async def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        if self._owner is task:
            return await method(self, *args, **kwargs)
        async with self._lock:
            self._owner = task
            try:
                return await method(self, *args, **kwargs)
            finally:
                self._owner = None

    return wrapper  # type: ignore[return-value]


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to fix."""


class Store:
    """Typed async access to the SQLite file: `Store(path)`, then `await store.connect()`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._connection: aiosqlite.Connection | None = None
        # Tag counts and title lists feed every autocomplete keystroke; they change only
        # when a batch is written or a scheduled post comes due, so cache them briefly.
        self._generation = 0
        self._cache: dict[str, tuple[int, float, object]] = {}
        self.ranked_search_max = RANKED_SEARCH_MAX
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    @property
    def _db(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise StoreError(f"the store {self.path} is not connected; call connect() first")
        return self._connection

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path | str, create: bool = True) -> Store:
        """A connected, migrated store (for the CLI and tests; the bot connects in setup_hook)."""
        store = cls(path)
        await store.connect(create=create)
        return store

    async def connect(self, create: bool = True) -> None:
        """Connect, configure and migrate. Raises StoreError with a fix-it message.

        With `create=False` a missing file is an error rather than a new empty store: a
        command that only reads would otherwise answer "no posts" from a mistyped path.
        """
        path = self.path
        if path.is_dir():
            raise StoreError(f"the database path {path} is a folder; give the path of a file inside it")
        if not create and not path.exists():
            raise StoreError(f"there is no database at {path}; run `kiji ingest` first, or point at the right file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the database {path}: {exc.strerror}") from exc
        opening = aiosqlite.connect(path, isolation_level=None)
        try:
            db = await opening
        except Exception as exc:
            # aiosqlite's worker thread answers the failed open after the fact: wait for it, or it
            # reports into an event loop that a short-lived command has already closed.
            worker = getattr(opening, "_thread", None)
            if worker is not None:
                await asyncio.to_thread(worker.join, 5)
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

    @_serialized
    async def close(self) -> None:
        """Close the connection; safe to call twice (shutdown paths may overlap)."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error or cancellation.

        BEGIN sits inside the guarded block on purpose: a task cancelled while waiting for it
        leaves the statement to run on aiosqlite's thread anyway, and only the ROLLBACK queued
        behind it keeps the connection from staying in a transaction that fails every later write.
        """
        db = self._db
        try:
            await db.execute("BEGIN IMMEDIATE")
            yield
            await db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.OperationalError):  # BEGIN itself failed: nothing to undo
                await db.execute("ROLLBACK")
            raise

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
            async with self._transaction():
                for statement in _split_sql(MIGRATIONS[version]):
                    await self._db.execute(statement)
                # PRAGMA takes no parameters; the value is our own integer.
                await self._db.execute(f"PRAGMA user_version = {version + 1:d}")

    # -- metadata --------------------------------------------------------------------

    @_serialized
    async def get_meta(self, key: str) -> str | None:
        async with self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    @_serialized
    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- ingest ----------------------------------------------------------------------

    @_serialized
    async def file_states(self) -> dict[str, FileState]:
        async with self._db.execute("SELECT path, file_size, file_mtime_ns, content_hash FROM posts") as cur:
            rows = await cur.fetchall()
        return {row[0]: FileState(row[1], row[2], row[3]) for row in rows}

    @_serialized
    async def write_batch(
        self,
        upserts: Sequence[PostRecord] = (),
        removals: Iterable[str] = (),
        touches: Iterable[tuple[str, FileState]] = (),
        now: float | None = None,
        renames: Iterable[tuple[str, str]] = (),
    ) -> tuple[int, int, int]:
        """Write one batch atomically: a crash leaves either all of it or none of it.

        Returns (added, updated, removed). `touches` record a new mtime for files whose
        content hash did not change, so the next run skips them on size + mtime alone.
        `renames` (old path, new path) move a stored post, its id and its announcements to
        the path of one of `upserts` before the upserts are written: a rename counts as updated.
        """
        now = time.time() if now is None else now
        added = updated = removed = 0
        db = self._db
        try:
            async with self._transaction():
                for old_path, new_path in renames:
                    await db.execute("UPDATE posts SET path = ? WHERE path = ?", (new_path, old_path))
                    await db.execute(
                        "UPDATE OR IGNORE deliveries SET post_path = ? WHERE post_path = ?", (new_path, old_path)
                    )
                for path, state in touches:
                    await db.execute(
                        "UPDATE posts SET file_size = ?, file_mtime_ns = ? WHERE path = ?",
                        (state.size, state.mtime_ns, path),
                    )
                for post_id in (await self._post_ids(list(removals))).values():
                    await self._delete_post(post_id)
                    removed += 1
                if upserts:
                    added, updated = await self._write_posts(upserts, now)
                if removed or updated:  # an edit can drop a post's last use of a tag
                    await self._drop_unused_terms()
        except sqlite3.OperationalError as exc:  # read-only file, full disk: the user can fix it
            raise StoreError(
                f"cannot write to the database {self.path}: {exc}; make the file and its folder writable"
                " and check the disk has room"
            ) from exc
        self._generation += 1
        return added, updated, removed

    async def _delete_post(self, post_id: int) -> None:
        await self._db.execute("DELETE FROM post_search WHERE rowid = ?", (post_id,))
        await self._db.execute("DELETE FROM posts WHERE id = ?", (post_id,))

    async def _post_ids(self, paths: Sequence[str]) -> dict[str, int]:
        return await self._ids_by("SELECT path, id FROM posts WHERE path IN ({marks})", paths)

    async def _rows_in(self, template: str, values: Sequence[object]) -> list[Any]:
        """Rows of a `… IN ({marks})` query for `values`, in chunks under SQLite's parameter limit.

        Placeholders, never a JSON array or inlined values: a name may hold any character, NUL included.
        """
        rows: list[Any] = []
        for start in range(0, len(values), 500):
            chunk = list(values[start : start + 500])
            async with self._db.execute(template.format(marks=", ".join("?" * len(chunk))), chunk) as cur:
                rows.extend(await cur.fetchall())
        return rows

    async def _ids_by(self, template: str, names: Sequence[str]) -> dict[str, int]:
        """name → id for a `SELECT name, id … IN ({marks})` query."""
        return {str(name): int(row_id) for name, row_id in await self._rows_in(template, names)}

    async def _write_posts(self, records: Sequence[PostRecord], now: float) -> tuple[int, int]:
        """Upsert the posts, their tags, categories and index entries; returns (added, updated).

        Statement by statement over the whole batch (a few round trips, not a dozen per post),
        and the index entries last: a statement that may need undoing (an upsert, an insert
        into a table with a unique key) opens a savepoint, and FTS5 flushes its pending terms
        to a new segment at every savepoint. Interleaved, that wrote one tiny segment per post
        and tripled the cost of a cold ingest.
        """
        db = self._db
        known = await self._post_ids([r.path for r in records])
        if known:
            changed = [(known[r.path], r.file.content_hash, r.derived_version) for r in records if r.path in known]
            # summaries of the old content or of its old cleaning (a language model's too) will never be shown
            await db.executemany(
                "DELETE FROM summaries WHERE post_id = ?1 AND (content_hash != ?2 "
                "OR ?3 != (SELECT derived_version FROM posts WHERE id = ?1))",
                changed,
            )
            # tags, categories and the index entry are rewritten whole: cheaper than diffing
            for statement in (
                "DELETE FROM post_search WHERE rowid = ?",
                "DELETE FROM post_tags WHERE post_id = ?",
                "DELETE FROM post_categories WHERE post_id = ?",
            ):
                await db.executemany(statement, [(post_id,) for post_id, _, _ in changed])
        # first_seen_at is only set on insert: the upsert's update leaves it alone
        await db.executemany(_UPSERT_POST, [(r.path, *_post_values(r), now, now) for r in records])
        # the posts already stored kept their ids: only the new ones need looking up
        ids = known | await self._post_ids([r.path for r in records if r.path not in known])
        tag_ids = await self._term_ids("tags", [tag for r in records for tag in r.tags])
        await db.executemany(
            "INSERT INTO post_tags (tag_id, date_utc, post_id, position) VALUES (?, ?, ?, ?)",
            [
                (tag_ids[normalize_key(tag)], r.date_utc, ids[r.path], position)
                for r in records
                for position, tag in enumerate(_unique_by_key(r.tags))
            ],
        )
        category_ids = await self._term_ids("categories", [name for r in records for name in r.categories])
        await db.executemany(
            "INSERT INTO post_categories (category_id, post_id, position) VALUES (?, ?, ?)",
            [
                (category_ids[normalize_key(name)], ids[r.path], position)
                for r in records
                for position, name in enumerate(_unique_by_key(r.categories))
            ],
        )
        await db.executemany(
            "INSERT INTO post_search (rowid, title, body) VALUES (?, ?, ?)",
            [(ids[r.path], r.title_tokens, r.body_tokens) for r in records],
        )
        return len(records) - len(known), len(known)

    async def _term_ids(self, table: str, names: Sequence[str]) -> dict[str, int]:
        """Ids of tags or categories by normalised key, creating the missing ones (first spelling wins)."""
        unique = _unique_by_key(names)
        # `table` is one of two literal table names chosen by the caller, never user input.
        await self._db.executemany(
            f"INSERT INTO {table} (key, name) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            [(normalize_key(name), name) for name in unique],
        )
        return await self._ids_by(
            f"SELECT key, id FROM {table} WHERE key IN ({{marks}})", [normalize_key(name) for name in unique]
        )

    @_serialized
    async def paths_with_stale_derivations(self, version: str) -> set[str]:
        """Posts whose cleaned text, outline or index tokens were made by another cleaner/tokeniser."""
        async with self._db.execute("SELECT path FROM posts WHERE derived_version != ?", (version,)) as cur:
            return {str(row[0]) for row in await cur.fetchall()}

    @_serialized
    async def get_summary(
        self, post_id: int, length: str, source: str = "extractive", version: str | None = None
    ) -> tuple[str, ...] | None:
        """Stored summary sentences for the post's current content (and `version`, if given), or None."""
        async with self._db.execute(
            "SELECT s.sentences FROM summaries s JOIN posts p ON p.id = s.post_id "
            "WHERE s.post_id = ? AND s.length = ? AND s.source = ? AND s.content_hash = p.content_hash "
            "AND (? IS NULL OR s.version = ?)",
            (post_id, length, source, version, version),
        ) as cur:
            row = await cur.fetchone()
        return tuple(json.loads(row[0])) if row else None

    @_serialized
    async def put_summaries(
        self,
        post_id: int,
        source: str,
        version: str,
        by_length: Mapping[str, Sequence[str]],
        made_from: tuple[str, str] | None = None,
    ) -> None:
        """Cache summaries made on demand against the post's current content, all lengths at once.

        `made_from` (StoredBody.made_from of the text summarised): cache nothing if the post was
        re-ingested meanwhile, so a summary of the old text never sits under the new content.
        """
        content_hash, derived_version = made_from if made_from is not None else (None, None)
        check = (content_hash, content_hash, derived_version)
        await self._db.executemany(
            "INSERT OR REPLACE INTO summaries (post_id, length, source, version, content_hash, sentences, created_at) "
            "SELECT id, ?, ?, ?, content_hash, ?, ? FROM posts WHERE id = ? "
            "AND (? IS NULL OR (content_hash = ? AND derived_version = ?))",
            [
                (length, source, version, json.dumps(list(sentences)), time.time(), post_id, *check)
                for length, sentences in by_length.items()
            ],
        )

    async def _drop_unused_terms(self) -> None:
        await self._db.execute("DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM post_tags)")
        await self._db.execute("DELETE FROM categories WHERE id NOT IN (SELECT category_id FROM post_categories)")

    @_serialized
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
            )
            for row in rows
        ]

    async def _names_by_post(self, template: str, ids: list[int]) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {}
        for post_id, name in await self._rows_in(template, ids):
            result.setdefault(int(post_id), []).append(str(name))
        return result

    @_serialized
    async def all_posts(self) -> list[Post]:
        """Every stored post, scheduled ones included, newest first."""
        return await self._posts(f"SELECT {_POST_COLUMNS} FROM posts p ORDER BY p.date_utc DESC, p.id DESC", ())

    @_serialized
    async def get_post(self, post_id: int) -> Post | None:
        posts = await self._posts(f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.id = ?", (post_id,))
        return posts[0] if posts else None

    @_serialized
    async def get_post_by_path(self, path: str) -> Post | None:
        posts = await self._posts(f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.path = ?", (path,))
        return posts[0] if posts else None

    @_serialized
    async def get_text(self, post_id: int) -> str | None:
        async with self._db.execute("SELECT text FROM posts WHERE id = ?", (post_id,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    @_serialized
    async def get_text_and_outline(self, post_id: int) -> StoredBody | None:
        """The cleaned text and its CleanedBody.outline, to summarise a post without re-reading its file."""
        async with self._db.execute(
            "SELECT text, outline, content_hash, derived_version FROM posts WHERE id = ?", (post_id,)
        ) as cur:
            row = await cur.fetchone()
        return StoredBody(str(row[0]), str(row[1]), (str(row[2]), str(row[3]))) if row else None

    @_serialized
    async def related_candidates(self, post_id: int, limit: int = 200, now: float | None = None) -> list[Post]:
        """Visible posts sharing a tag or category with `post_id`, most shared first."""
        return await self._posts(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN ("
            "  SELECT other.post_id AS id, count(*) AS shared FROM post_tags mine "
            "  JOIN post_tags other ON other.tag_id = mine.tag_id AND other.post_id != mine.post_id "
            "  WHERE mine.post_id = ? GROUP BY other.post_id "
            "  UNION ALL "
            "  SELECT other.post_id AS id, count(*) AS shared FROM post_categories mine "
            "  JOIN post_categories other ON other.category_id = mine.category_id AND other.post_id != mine.post_id "
            "  WHERE mine.post_id = ? GROUP BY other.post_id"
            ") c ON c.id = p.id WHERE p.date_utc <= ? GROUP BY p.id ORDER BY sum(c.shared) DESC, p.date_utc DESC "
            "LIMIT ?",
            (post_id, post_id, _now(now), limit),
        )

    @_serialized
    async def texts(self, post_ids: Sequence[int]) -> dict[int, str]:
        """Cleaned texts of several posts at once (for search snippets)."""
        result: dict[int, str] = {}
        for start in range(0, len(post_ids), 500):
            chunk = list(post_ids[start : start + 500])
            sql = "SELECT id, text FROM posts WHERE id IN ({marks})".format(marks=", ".join("?" * len(chunk)))
            async with self._db.execute(sql, chunk) as cur:
                result.update({int(i): str(text) for i, text in await cur.fetchall()})
        return result

    @_serialized
    async def latest(self, limit: int, tag: str | None = None, now: float | None = None) -> list[Post]:
        """The newest visible posts, optionally only those with `tag`."""
        if tag:
            return await self.posts_by_tag(tag, limit, now=now)
        return await self._posts(
            f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.date_utc <= ? ORDER BY p.date_utc DESC, p.id DESC LIMIT ?",
            (_now(now), limit),
        )

    @_serialized
    async def posts_by_tag(self, tag: str, limit: int, offset: int = 0, now: float | None = None) -> list[Post]:
        """Visible posts with `tag` (any spelling), newest first; walks the (tag, date) index."""
        return await self._posts(
            f"SELECT {_POST_COLUMNS} FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
            "WHERE pt.tag_id = (SELECT id FROM tags WHERE key = ?) AND pt.date_utc <= ? "
            "ORDER BY pt.date_utc DESC, pt.post_id DESC LIMIT ? OFFSET ?",
            (normalize_key(tag), _now(now), limit, offset),
        )

    @_serialized
    async def count_posts_by_tag(self, tag: str, now: float | None = None) -> int:
        async with self._db.execute(
            "SELECT count(*) FROM post_tags WHERE tag_id = (SELECT id FROM tags WHERE key = ?) AND date_utc <= ?",
            (normalize_key(tag), _now(now)),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @_serialized
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

    async def _cached(self, key: str, max_age: float, load):  # type: ignore[no-untyped-def]
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self._generation and now - hit[1] < max_age:
            return hit[2]
        value = await load()
        self._cache[key] = (self._generation, now, value)
        return value

    @_serialized
    async def tags(self, now: float | None = None) -> list[TagCount]:
        """Tags of visible posts with their post counts, most used first (cached for a minute)."""
        if now is not None:
            return await self._tags(now)
        return await self._cached("tags", CACHE_SECONDS, lambda: self._tags(None))  # type: ignore[no-any-return]

    async def _tags(self, now: float | None) -> list[TagCount]:
        async with self._db.execute(
            "SELECT t.name, t.key, count(*) AS n FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
            "WHERE pt.date_utc <= ? GROUP BY t.id ORDER BY n DESC, t.key",
            (_now(now),),
        ) as cur:
            rows = await cur.fetchall()
        return [TagCount(str(name), str(key), int(n)) for name, key, n in rows]

    @_serialized
    async def tag_by_key(self, tag: str) -> str | None:
        """The display name of a tag given any spelling of it, or None if unknown."""
        async with self._db.execute("SELECT name FROM tags WHERE key = ?", (normalize_key(tag),)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    @_serialized
    async def titles(self, now: float | None = None) -> list[tuple[int, str]]:
        """(id, title) of visible posts, newest first: the pool for fuzzy matching (cached for a minute)."""
        if now is not None:
            return await self._titles(now)
        return await self._cached("titles", CACHE_SECONDS, lambda: self._titles(None))  # type: ignore[no-any-return]

    async def _titles(self, now: float | None) -> list[tuple[int, str]]:
        async with self._db.execute(
            "SELECT id, title FROM posts WHERE date_utc <= ? ORDER BY date_utc DESC, id DESC", (_now(now),)
        ) as cur:
            rows = await cur.fetchall()
        return [(int(i), str(t)) for i, t in rows]

    @_serialized
    async def latest_titles(self, limit: int, now: float | None = None) -> list[tuple[int, str]]:
        """(id, title) of the newest visible posts: autocomplete before anything is typed."""
        async with self._db.execute(
            "SELECT id, title FROM posts WHERE date_utc <= ? ORDER BY date_utc DESC, id DESC LIMIT ?",
            (_now(now), limit),
        ) as cur:
            rows = await cur.fetchall()
        return [(int(i), str(t)) for i, t in rows]

    @_serialized
    async def search_titles(self, needle: str, limit: int, now: float | None = None) -> list[tuple[int, str]]:
        """Titles containing `needle` (NFKC/case-insensitive substring), newest first."""
        # no title is longer; SQLite refuses LIKE patterns over 50,000 bytes
        key = normalize_key(needle)[:TITLE_NEEDLE_MAX]
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        async with self._db.execute(
            "SELECT id, title FROM posts WHERE date_utc <= ? AND title_key LIKE ? ESCAPE '\\' "
            "ORDER BY date_utc DESC, id DESC LIMIT ?",
            (_now(now), f"%{escaped}%", limit),
        ) as cur:
            rows = await cur.fetchall()
        return [(int(i), str(t)) for i, t in rows]

    @_serialized
    async def search(self, query: str, limit: int = 20, now: float | None = None) -> list[SearchHit]:
        """Posts matching every term of `query`, title matches first.

        Up to RANKED_SEARCH_MAX matches are ordered by relevance (bm25). A query that
        matches more than that ("AI" on an AI blog) is not made slower by ranking every
        match: title matches come first, then body matches, each newest-added first.
        """
        expression = search_tokens.match_expression(query)
        if expression is None:
            return []
        title_expression = f"{{title}} : ({expression})"
        async with self._db.execute("SELECT count(*) FROM post_search WHERE post_search MATCH ?", (expression,)) as cur:
            row = await cur.fetchone()
        if row is not None and int(row[0]) > self.ranked_search_max:
            return await self._recent_hits(expression, title_expression, limit, _now(now))
        async with self._db.execute(
            "WITH hits AS (SELECT rowid AS id, bm25(post_search, 5.0, 1.0) AS score "
            "              FROM post_search WHERE post_search MATCH ?), "
            "     title_hits AS (SELECT rowid AS id FROM post_search WHERE post_search MATCH ?) "
            f"SELECT {_POST_COLUMNS}, h.id IN (SELECT id FROM title_hits) AS in_title "
            "FROM hits h JOIN posts p ON p.id = h.id WHERE p.date_utc <= ? "
            "ORDER BY in_title DESC, h.score, p.date_utc DESC LIMIT ?",
            (expression, title_expression, _now(now), limit),
        ) as cur:
            rows = list(await cur.fetchall())
        posts = await self._hydrate(row[:-1] for row in rows)
        return [SearchHit(post, bool(row[-1])) for post, row in zip(posts, rows, strict=True)]

    async def _recent_hits(self, expression: str, title_expression: str, limit: int, now: float) -> list[SearchHit]:
        sql = (
            f"SELECT {_POST_COLUMNS} FROM post_search s JOIN posts p ON p.id = s.rowid "
            "WHERE post_search MATCH ? AND p.date_utc <= ? ORDER BY s.rowid DESC LIMIT ?"
        )
        in_title = await self._posts(sql, (title_expression, now, limit))
        seen = {post.id for post in in_title}
        in_body = [p for p in await self._posts(sql, (expression, now, limit + len(seen))) if p.id not in seen]
        hits = [SearchHit(post, True) for post in in_title] + [SearchHit(post, False) for post in in_body]
        return hits[:limit]

    # -- subscriptions and deliveries ----------------------------------------------

    @_serialized
    async def subscribe(
        self,
        guild_id: int,
        channel_id: int,
        channel_kind: str,
        tags: Sequence[str] = (),
        categories: Sequence[str] = (),
        mention_role_id: int | None = None,
        created_by: int | None = None,
        now: float | None = None,
    ) -> Subscription:
        """Create, or update the filters of, the channel's subscription.

        New filters start afresh: posts that arrived earlier and match only the new filters
        are not news to this channel, so the start time moves to now. With the same filters
        (a re-run of /subscribe, a new mention role) it stays.
        """
        tag_keys = json.dumps(sorted({normalize_key(t) for t in tags if normalize_key(t)}), ensure_ascii=False)
        category_keys = json.dumps(
            sorted({normalize_key(c) for c in categories if normalize_key(c)}), ensure_ascii=False
        )
        await self._db.execute(
            "INSERT INTO subscriptions (guild_id, channel_id, channel_kind, tags, categories, mention_role_id, "
            "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id) DO UPDATE SET "
            "channel_kind = excluded.channel_kind, tags = excluded.tags, categories = excluded.categories, "
            "mention_role_id = excluded.mention_role_id, paused_reason = NULL, paused_at = NULL, "
            "created_at = CASE WHEN (tags, categories) IS (excluded.tags, excluded.categories) "
            "THEN created_at ELSE excluded.created_at END",
            (guild_id, channel_id, channel_kind, tag_keys, category_keys, mention_role_id, _now(now), created_by),
        )
        subscription = await self.subscription_for_channel(channel_id)
        assert subscription is not None
        return subscription

    @_serialized
    async def unsubscribe(self, guild_id: int, channel_id: int) -> bool:
        cur = await self._db.execute(
            "DELETE FROM subscriptions WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
        )
        return cur.rowcount > 0

    def _subscription(self, row: Sequence[object]) -> Subscription:
        return Subscription(
            id=int(row[0]),  # type: ignore[call-overload]
            guild_id=int(row[1]),  # type: ignore[call-overload]
            channel_id=int(row[2]),  # type: ignore[call-overload]
            channel_kind=str(row[3]),
            tags=tuple(json.loads(str(row[4]))),
            categories=tuple(json.loads(str(row[5]))),
            mention_role_id=row[6],  # type: ignore[arg-type]
            created_at=float(row[7]),  # type: ignore[arg-type]
            paused_reason=row[8],  # type: ignore[arg-type]
            paused_at=row[9],  # type: ignore[arg-type]
            last_delivery_at=row[10],  # type: ignore[arg-type]
        )

    @_serialized
    async def subscriptions(self, guild_id: int | None = None) -> list[Subscription]:
        if guild_id is None:
            sql, params = f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY id", ()
        else:
            sql = f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE guild_id = ? ORDER BY id"
            params = (guild_id,)  # type: ignore[assignment]
        async with self._db.execute(sql, params) as cur:
            return [self._subscription(row) for row in await cur.fetchall()]

    @_serialized
    async def subscription_for_channel(self, channel_id: int) -> Subscription | None:
        async with self._db.execute(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE channel_id = ?", (channel_id,)
        ) as cur:
            row = await cur.fetchone()
        return self._subscription(row) if row else None

    @_serialized
    async def pause_subscription(self, subscription_id: int, reason: str, now: float | None = None) -> None:
        await self._db.execute(
            "UPDATE subscriptions SET paused_reason = ?, paused_at = ? WHERE id = ? AND paused_reason IS NULL",
            (reason, _now(now), subscription_id),
        )

    @_serialized
    async def resume_subscription(self, guild_id: int, channel_id: int) -> bool:
        cur = await self._db.execute(
            "UPDATE subscriptions SET paused_reason = NULL, paused_at = NULL WHERE guild_id = ? AND channel_id = ?",
            (guild_id, channel_id),
        )
        return cur.rowcount > 0

    @_serialized
    async def enqueue_new_posts(self, max_burst: int, now: float | None = None) -> dict[int, tuple[int, int]]:
        """Record a pending delivery for every post that became visible after each subscription began.

        A post becomes visible when it is first ingested or when its date arrives, whichever
        is later. If more than `max_burst` posts are new for one subscription at once, only the
        newest `max_burst` are queued and the rest recorded as skipped, so swapping the posts
        folder for another blog cannot flood a channel. Returns {subscription id: (queued, skipped)}.
        """
        now = _now(now)
        async with self._db.execute(
            "SELECT s.id, p.id, p.path, p.date_utc FROM subscriptions s JOIN posts p "
            "ON p.date_utc <= ? AND max(p.first_seen_at, p.date_utc) > s.created_at "
            f"WHERE {_MATCHES_SUBSCRIPTION} AND NOT EXISTS (SELECT 1 FROM deliveries d "
            "WHERE d.subscription_id = s.id AND d.post_path = p.path) ORDER BY s.id, p.date_utc DESC, p.id DESC",
            (now,),
        ) as cur:
            rows = await cur.fetchall()
        if not rows:
            return {}
        outcome: dict[int, tuple[int, int]] = {}
        async with self._transaction():
            rank: dict[int, int] = {}
            for subscription_id, post_id, path, date_utc in rows:
                position = rank.get(subscription_id, 0)
                rank[subscription_id] = position + 1
                state = "pending" if position < max_burst else "skipped"
                await self._db.execute(
                    "INSERT OR IGNORE INTO deliveries (subscription_id, post_path, post_id, post_date_utc, state, "
                    "nonce, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (subscription_id, path, post_id, date_utc, state, delivery_nonce(subscription_id, path), now),
                )
                queued, skipped = outcome.get(subscription_id, (0, 0))
                outcome[subscription_id] = (queued + 1, skipped) if state == "pending" else (queued, skipped + 1)
        return outcome

    @_serialized
    async def backfill(self, subscription_id: int, count: int, now: float | None = None) -> int:
        """Queue the `count` latest matching visible posts for a new subscription."""
        if count <= 0:
            return 0
        now = _now(now)
        async with self._db.execute(
            "SELECT p.id, p.path, p.date_utc FROM subscriptions s JOIN posts p ON p.date_utc <= ? "
            f"WHERE s.id = ? AND {_MATCHES_SUBSCRIPTION} ORDER BY p.date_utc DESC, p.id DESC LIMIT ?",
            (now, subscription_id, count),
        ) as cur:
            rows = await cur.fetchall()
        queued = 0
        # One transaction: a delivery round running meanwhile must see all of them or none,
        # or it could send the newest before the older ones exist.
        async with self._transaction():
            for post_id, path, date_utc in rows:
                cur = await self._db.execute(
                    "INSERT OR IGNORE INTO deliveries (subscription_id, post_path, post_id, post_date_utc, state, "
                    "nonce, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                    (subscription_id, path, post_id, date_utc, delivery_nonce(subscription_id, path), now),
                )
                queued += cur.rowcount
        return queued

    async def _deliveries(self, where: str, params: Sequence[object], limit: int = -1) -> list[Delivery]:
        async with self._db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
            f"WHERE {where} ORDER BY s.channel_id, d.post_date_utc, d.id LIMIT ?",
            (*params, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [
            Delivery(
                id=int(r[0]),
                subscription_id=int(r[1]),
                guild_id=int(r[2]),
                channel_id=int(r[3]),
                post_path=str(r[4]),
                post_id=r[5],
                post_date_utc=float(r[6]),
                state=str(r[7]),
                nonce=str(r[8]),
                message_id=r[9],
                attempts=int(r[10]),
                last_error=r[11],
                created_at=float(r[12]),
                sent_at=r[13],
            )
            for r in rows
        ]

    @_serialized
    async def pending_deliveries(self, limit: int = -1) -> list[Delivery]:
        """Pending deliveries of active subscriptions, per channel oldest post first."""
        return await self._deliveries("d.state = 'pending' AND s.paused_reason IS NULL", (), limit)

    @_serialized
    async def deliveries(self, post_id: int | None = None, channel_id: int | None = None) -> list[Delivery]:
        """The ledger, optionally for one post and/or one channel (for `kiji deliveries`)."""
        return await self._deliveries(
            "(? IS NULL OR d.post_id = ?) AND (? IS NULL OR s.channel_id = ?)",
            (post_id, post_id, channel_id, channel_id),
        )

    @_serialized
    async def record_attempt(self, delivery_id: int, error: str | None) -> None:
        await self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, delivery_id)
        )

    @_serialized
    async def mark_skipped(self, delivery_id: int, reason: str) -> None:
        await self._db.execute(
            "UPDATE deliveries SET state = 'skipped', last_error = ? WHERE id = ?", (reason, delivery_id)
        )

    @_serialized
    async def mark_sent(self, delivery: Delivery, message_id: int, now: float | None = None) -> None:
        now = _now(now)
        async with self._transaction():
            await self._db.execute(
                "UPDATE deliveries SET state = 'sent', message_id = ?, sent_at = ?, last_error = NULL WHERE id = ?",
                (message_id, now, delivery.id),
            )
            await self._db.execute(
                "UPDATE subscriptions SET last_delivery_at = ? WHERE id = ?", (now, delivery.subscription_id)
            )

    @_serialized
    async def counts(self, now: float | None = None) -> tuple[int, int]:
        """(visible posts, tags in use by them); the tag count reuses the cached tag list."""
        async with self._db.execute("SELECT count(*) FROM posts WHERE date_utc <= ?", (_now(now),)) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0]), len(await self.tags(now))


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
