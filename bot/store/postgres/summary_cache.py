"""Summaries cached per post, length and producer (PostgreSQL twin of `bot.store.summary_cache`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import asyncpg


async def get_summary(
    db: asyncpg.Connection, post_id: int, length: str, source: str, version: str | None
) -> tuple[str, ...] | None:
    sentences = await db.fetchval(
        "SELECT s.sentences FROM summaries s JOIN posts p ON p.id = s.post_id "
        "WHERE s.post_id = $1 AND s.length = $2 AND s.source = $3 AND s.content_hash = p.content_hash "
        "AND ($4::text IS NULL OR s.version = $4)",
        post_id,
        length,
        source,
        version,
    )
    return None if sentences is None else tuple(json.loads(sentences))


async def put_summaries(
    db: asyncpg.Connection,
    post_id: int,
    source: str,
    version: str,
    by_length: Mapping[str, Sequence[str]],
    made_from: tuple[str, str] | None,
    now: float,
) -> None:
    """Cache all lengths at once; nothing if the post changed since `made_from` (see Store.put_summaries)."""
    content_hash, derived_version = made_from if made_from is not None else (None, None)
    await db.executemany(
        "INSERT INTO summaries (post_id, length, source, version, content_hash, sentences, created_at) "
        "SELECT id, $1, $2, $3, content_hash, $4, $5 FROM posts WHERE id = $6 "
        "AND ($7::text IS NULL OR (content_hash = $7 AND derived_version = $8)) "
        "ON CONFLICT (post_id, length, source) DO UPDATE SET version = excluded.version, "
        "content_hash = excluded.content_hash, sentences = excluded.sentences, created_at = excluded.created_at",
        [
            (length, source, version, json.dumps(list(sentences)), float(now), post_id, content_hash, derived_version)
            for length, sentences in by_length.items()
        ],
    )


async def forget_outdated(db: asyncpg.Connection, changed: Sequence[tuple[int, str, str]]) -> None:
    """Drop summaries of (post id, new content hash, new derived version) made from anything else."""
    await db.executemany(
        "DELETE FROM summaries WHERE post_id = $1 AND (content_hash != $2 "
        "OR $3 != (SELECT derived_version FROM posts WHERE id = $1))",
        changed,
    )
