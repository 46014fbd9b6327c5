"""The schema as numbered migrations, and the one routine that applies them.

The file's `PRAGMA user_version` is the number of migrations applied. Each migration runs
inside `BEGIN IMMEDIATE`, and the version is read again inside that transaction: two
processes creating the same new database at once then take turns instead of both running
`CREATE TABLE posts` (the second finds the version already moved and does nothing).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import aiosqlite

from bot.store.errors import StoreError

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
    # 6: several blogs in one store. Each post belongs to one source, and a post is known by
    # its path within its source (two blogs may both have _posts/2024-01-01-hello.md), so the
    # posts and the delivery ledger are rebuilt with the source in their keys; ids, first-seen
    # times and every recorded delivery are kept, so nothing is announced again. The posts
    # stored so far belong to an unnamed source that the first configured source takes over
    # (sources.register). A subscription may follow one source (NULL: every source). A source's
    # first successful read is its back catalogue, never news (first_success_at; 0 for the
    # posts already stored, which were news as they came).
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        display TEXT NOT NULL,
        title TEXT,
        url TEXT,
        last_attempt_at REAL,
        last_success_at REAL,
        first_success_at REAL,
        last_error TEXT,
        last_error_at REAL
    );
    INSERT INTO sources (id, name, display, last_success_at, first_success_at)
        SELECT 1, '', '', (SELECT CAST(value AS REAL) FROM meta WHERE key = 'last_ingest_at'), 0
        WHERE EXISTS (SELECT 1 FROM posts) OR EXISTS (SELECT 1 FROM deliveries);
    CREATE TABLE posts_of_sources (
        id INTEGER PRIMARY KEY,
        source_id INTEGER NOT NULL REFERENCES sources (id),
        path TEXT NOT NULL,
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
        updated_at REAL NOT NULL,
        outline TEXT NOT NULL DEFAULT '',
        derived_version TEXT NOT NULL DEFAULT '',
        UNIQUE (source_id, path)
    );
    INSERT INTO posts_of_sources (
        id, source_id, path, jekyll_id, url, abs_url, slug, title, title_key, date_utc, date_iso, author,
        excerpt, description, reading_time, text, file_size, file_mtime_ns, content_hash, first_seen_at,
        updated_at, outline, derived_version
    ) SELECT
        id, 1, path, jekyll_id, url, abs_url, slug, title, title_key, date_utc, date_iso, author,
        excerpt, description, reading_time, text, file_size, file_mtime_ns, content_hash, first_seen_at,
        updated_at, outline, derived_version
    FROM posts;
    DROP TABLE posts;
    ALTER TABLE posts_of_sources RENAME TO posts;
    CREATE INDEX posts_by_date ON posts (date_utc DESC);
    CREATE INDEX posts_by_source_date ON posts (source_id, date_utc DESC);
    CREATE INDEX posts_title_lookup ON posts (date_utc DESC, id DESC, title_key, title);
    CREATE INDEX posts_file_state ON posts (source_id, path, file_size, file_mtime_ns, content_hash);
    CREATE TABLE deliveries_of_sources (
        id INTEGER PRIMARY KEY,
        subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
        source_id INTEGER NOT NULL REFERENCES sources (id),
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
        UNIQUE (subscription_id, source_id, post_path)
    );
    INSERT INTO deliveries_of_sources (
        id, subscription_id, source_id, post_path, post_id, post_date_utc, state, nonce, message_id, attempts,
        last_error, created_at, sent_at
    ) SELECT
        id, subscription_id, 1, post_path, post_id, post_date_utc, state, nonce, message_id, attempts,
        last_error, created_at, sent_at
    FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_of_sources RENAME TO deliveries;
    CREATE INDEX deliveries_pending ON deliveries (state, subscription_id, post_date_utc);
    ALTER TABLE subscriptions ADD COLUMN source_id INTEGER REFERENCES sources (id) ON DELETE CASCADE;
    """,
    # 7: a post's source found without reading its row: /tag of one blog counts a tag's posts by
    # joining them to their source, and each lookup read the post's wide row (10 ms instead of
    # 49 ms for a tag on 30,000 posts).
    """
    CREATE INDEX posts_source_of_id ON posts (source_id);
    """,
    # 8: the index's tokens are made by bot.content.search_tokens, already folded and split by
    # spaces; FTS5's ascii tokenizer takes them as they are, where unicode61 looked every
    # character up in its Unicode tables to split and fold them again (same tokens on every
    # sample post, see tests/bot/store/test_fts_tokenizer.py): a fifth less CPU per insert.
    # The stored tokens are copied over, so nothing is cleaned or tokenised again.
    """
    CREATE VIRTUAL TABLE post_search_ascii USING fts5 (title, body, tokenize = 'ascii');
    INSERT INTO post_search_ascii (rowid, title, body) SELECT rowid, title, body FROM post_search;
    DROP TABLE post_search;
    ALTER TABLE post_search_ascii RENAME TO post_search;
    """,
    # 9: posts that are not Jekyll files (issue 22): a post is an entry with an identity in its blog
    # (`path`: a Jekyll post's site path as before, a feed entry's id) and a second key, its
    # canonical URL, so a page found in the sitemap and the same post's feed entry are one post.
    # Jekyll posts keep their path, id, content hash and derived version: nothing is announced
    # again and no stored summary is re-derived. Their absolute URL is already canonical (no
    # tracking parameters or fragment), so it is copied.
    """
    ALTER TABLE posts ADD COLUMN canonical_key TEXT;
    UPDATE posts SET canonical_key = abs_url WHERE abs_url LIKE 'http%';
    CREATE INDEX posts_canonical ON posts (source_id, canonical_key);
    """,
    # 10: how a subscription's announcements look (issue 23): a layout (embed, card, text), the
    # admin's template (checked when set; NULL: the layout's own) and the time zone its dates
    # are shown in (NULL: the blog's).
    """
    ALTER TABLE subscriptions ADD COLUMN layout TEXT NOT NULL DEFAULT 'embed';
    ALTER TABLE subscriptions ADD COLUMN template TEXT;
    ALTER TABLE subscriptions ADD COLUMN timezone TEXT;
    """,
    # 11: a post that goes and comes back is not news (issue 21 point 8). A force-push that drops a
    # post and a push that restores it made it a new row, first seen now, and announced. Every
    # removed post leaves its identity (path) and content hash here; a post stored again with
    # either keeps the first-seen time it had, and the delivery ledger is read by content too.
    """
    CREATE TABLE IF NOT EXISTS posts_gone (
        source_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        first_seen_at REAL NOT NULL,
        UNIQUE (source_id, path, content_hash)
    );
    CREATE INDEX IF NOT EXISTS posts_gone_by_hash ON posts_gone (source_id, content_hash);
    CREATE TRIGGER IF NOT EXISTS posts_remember_gone AFTER DELETE ON posts BEGIN
        INSERT INTO posts_gone (source_id, path, content_hash, first_seen_at)
        VALUES (OLD.source_id, OLD.path, OLD.content_hash, OLD.first_seen_at)
        ON CONFLICT DO UPDATE SET first_seen_at = min(first_seen_at, excluded.first_seen_at);
    END;
    CREATE TRIGGER IF NOT EXISTS posts_back_keep_first_seen AFTER INSERT ON posts
    WHEN EXISTS (SELECT 1 FROM posts_gone g WHERE g.source_id = NEW.source_id AND g.path = NEW.path)
        OR EXISTS (SELECT 1 FROM posts_gone g WHERE g.source_id = NEW.source_id AND g.content_hash = NEW.content_hash)
    BEGIN
        UPDATE posts SET first_seen_at = min(NEW.first_seen_at, (
            SELECT min(g.first_seen_at) FROM posts_gone g
            WHERE g.source_id = NEW.source_id AND (g.path = NEW.path OR g.content_hash = NEW.content_hash)
        )) WHERE id = NEW.id;
    END;
    """,
    # 12: where and how a subscription's posts land (issue 23 points 3-4): sent by the bot or
    # through a channel webhook with the blog's name and icon (its id only: the token is fetched
    # with the bot's own authorisation each start, never stored), a thread opened on each
    # announcement and its name's template, and the forum tag used when none of a post's match.
    """
    ALTER TABLE subscriptions ADD COLUMN delivery TEXT NOT NULL DEFAULT 'bot';
    ALTER TABLE subscriptions ADD COLUMN webhook_id INTEGER;
    ALTER TABLE subscriptions ADD COLUMN thread INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE subscriptions ADD COLUMN thread_name TEXT;
    ALTER TABLE subscriptions ADD COLUMN forum_tag_id INTEGER;
    """,
    # 13: digests (issue 23 point 5). A subscription may collect its posts into one message a day
    # or a week, at an hour (and weekday) of its time zone. Its posts are still queued in the
    # delivery ledger as they become news; a digest claims them (`deliveries.digest_id`) when its
    # period ends. The digest's messages are rendered once and kept with it, written pending
    # before anything is sent: a restart sends the same parts with the same nonces.
    """
    ALTER TABLE subscriptions ADD COLUMN digest TEXT NOT NULL DEFAULT 'off';
    ALTER TABLE subscriptions ADD COLUMN digest_hour INTEGER NOT NULL DEFAULT 9;
    ALTER TABLE subscriptions ADD COLUMN digest_weekday INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE deliveries ADD COLUMN digest_id INTEGER;
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
        period_start REAL NOT NULL,
        period_end REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'skipped', 'empty')),
        parts TEXT NOT NULL DEFAULT '[]',
        message_ids TEXT NOT NULL DEFAULT '[]',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        sent_at REAL,
        UNIQUE (subscription_id, period_start)
    );
    CREATE INDEX deliveries_by_digest ON deliveries (digest_id) WHERE digest_id IS NOT NULL;
    """,
    # 14: notices when a blog stops updating (issue 23 point 6). `failing_since`: the first failure
    # since the last success (the latest failure stands in for stores that did not keep it). One
    # row per (blog, channel, failure, down|up), written pending before it is sent: never two
    # notices for one failure in one channel, across restarts. Per server: notices on or off,
    # and the one channel they go to instead of the subscribed ones.
    """
    ALTER TABLE sources ADD COLUMN failing_since REAL;
    UPDATE sources SET failing_since = last_error_at WHERE last_error IS NOT NULL;
    CREATE TABLE notice_settings (
        guild_id INTEGER PRIMARY KEY,
        enabled INTEGER NOT NULL DEFAULT 1,
        channel_id INTEGER,
        updated_at REAL NOT NULL
    );
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        failing_since REAL NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('down', 'up')),
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'skipped')),
        reason TEXT,
        nonce TEXT NOT NULL,
        message_id INTEGER,
        last_error TEXT,
        created_at REAL NOT NULL,
        sent_at REAL,
        UNIQUE (source_id, channel_id, failing_since, kind)
    );
    CREATE INDEX notices_pending ON notices (state) WHERE state = 'pending';
    """,
    # 15: a blog's archive (the posts a web source's backfill found in its sitemap) is a silent
    # baseline: never announced, whatever its date says (a page dated after the blog's first read
    # would otherwise pass the announcer's date test). Set on insert only. The archive's rows
    # stored so far are the ones first seen at 0 that came from no file (mtime 0).
    """
    ALTER TABLE posts ADD COLUMN silent INTEGER NOT NULL DEFAULT 0;
    UPDATE posts SET silent = 1 WHERE first_seen_at = 0 AND file_mtime_ns = 0 AND canonical_key IS NOT NULL;
    """,
    # 16: the sync lease (bot.store.leases): which process polls and announces, until when, in which term.
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL,
        generation INTEGER NOT NULL
    );
    """,
    # 17: a post's picture (issue 23 point 2), what a card shows beside the summary: an absolute
    # http(s) URL, '' when the post has none. The migration only adds the column; NULL marks a
    # post stored before it. The next ingest reads each such file once more for its picture alone
    # (`paths_without_image`, `fill_images`): nothing but the column is written, so no summary,
    # search row or ledger entry changes and nothing is announced again. A web post's page is
    # fetched once (the archive) or only while its entry is in the feed, so web rows (from no
    # file: mtime 0) start as having none and get their picture when their entry is next edited.
    """
    ALTER TABLE posts ADD COLUMN image TEXT;
    UPDATE posts SET image = '' WHERE file_mtime_ns = 0;
    """,
    # 18: a pending delivery claimed by the sync lease holder's term (bot.store.subscriptions.claim_deliveries).
    """
    ALTER TABLE deliveries ADD COLUMN claimed_generation INTEGER;
    """,
    # 19: when a blog's first read began (`record_read_started`). Until that read succeeds
    # (first_success_at), what it stores is the blog's past: an announcer round that runs while a
    # new blog's first read is still storing posts must not announce them.
    """
    ALTER TABLE sources ADD COLUMN first_read_started_at REAL;
    """,
)


SCHEMA_VERSION = len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """The complete statements of `script`, in order.

    Split where SQLite itself says a statement ends (`sqlite3.complete_statement`), not at
    every semicolon: a trigger body or a string literal holds semicolons of its own.
    """
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending.strip()[:80]!r}")
    return statements


async def schema_version(connection: aiosqlite.Connection) -> int:
    rows = list(await connection.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0]) if rows else 0


async def migrate(connection: aiosqlite.Connection, path: Path) -> None:
    """Apply every migration newer than the file's `user_version`, each atomically.

    The version is checked before taking the write lock too, so opening an up-to-date store
    (every command, every start) never waits for a writer or needs the file writable.

    Foreign keys are off while a migration runs, as SQLite's documented way of rebuilding a
    table requires (dropping the old `posts` would otherwise cascade to its tags, summaries and
    deliveries), and checked before it commits: a migration that breaks one rolls back.
    """
    started = refuse_newer(await schema_version(connection), path)
    if started >= SCHEMA_VERSION:
        return
    enforced = bool(next(iter(await connection.execute_fetchall("PRAGMA foreign_keys")))[0])
    await connection.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before BEGIN
    try:
        while True:
            try:
                await connection.execute("BEGIN IMMEDIATE")
                current = refuse_newer(await schema_version(connection), path)
                if current >= SCHEMA_VERSION:
                    await connection.commit()
                    if current > started:  # one line for the whole climb: the default log says what Kiji does
                        what = "created" if started == 0 else f"migrated from schema version {started}"
                        log.info("store %s %s to schema version %d", path, what, current)
                    return
                log.debug("migrating %s to schema version %d", path, current + 1)
                for statement in split_statements(MIGRATIONS[current]):
                    await connection.execute(statement)
                broken = list(await connection.execute_fetchall("PRAGMA foreign_key_check"))[:5]
                if broken:
                    raise StoreError(
                        f"migrating {path} to schema version {current + 1} would break references "
                        f"({[tuple(row) for row in broken]}); nothing was changed"
                    )
                # PRAGMA takes no parameters; the value is our own integer.
                await connection.execute(f"PRAGMA user_version = {current + 1:d}")
                await connection.commit()
            except BaseException:
                # after whatever statement is still running on the connection's thread; a no-op outside a transaction
                await connection.rollback()
                raise
    finally:
        await connection.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")


def refuse_newer(version: int, path: Path) -> int:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database {path} has schema version {version}, newer than this Kiji "
            f"understands ({SCHEMA_VERSION}); upgrade Kiji or point KIJI_DB_PATH elsewhere"
        )
    return version
