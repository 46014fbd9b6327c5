"""Summaries cached per post, length and producer, each tied to the content it was made from.

A summary is made on first request (extractive or by a language model) and kept until the
post's content or its cleaning changes: `forget_outdated` runs inside the ingest batch that
changes them, and a lookup only returns a row whose content hash is the post's current one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import aiosqlite

from bot.store.sqlhelpers import fetch_one


async def get_summary(
    db: aiosqlite.Connection, post_id: int, length: str, source: str, version: str | None
) -> tuple[str, ...] | None:
    row = await fetch_one(
        db,
        "SELECT s.sentences FROM summaries s JOIN posts p ON p.id = s.post_id "
        "WHERE s.post_id = ? AND s.length = ? AND s.source = ? AND s.content_hash = p.content_hash "
        "AND (? IS NULL OR s.version = ?)",
        (post_id, length, source, version, version),
    )
    return tuple(json.loads(row["sentences"])) if row else None


async def put_summaries(
    db: aiosqlite.Connection,
    post_id: int,
    source: str,
    version: str,
    by_length: Mapping[str, Sequence[str]],
    made_from: tuple[str, str] | None,
    now: float,
) -> None:
    """Cache all lengths at once; nothing if the post changed since `made_from` (see Store.put_summaries)."""
    content_hash, derived_version = made_from if made_from is not None else (None, None)
    check = (content_hash, content_hash, derived_version)
    await db.executemany(
        "INSERT OR REPLACE INTO summaries (post_id, length, source, version, content_hash, sentences, created_at) "
        "SELECT id, ?, ?, ?, content_hash, ?, ? FROM posts WHERE id = ? "
        "AND (? IS NULL OR (content_hash = ? AND derived_version = ?))",
        [
            (length, source, version, json.dumps(list(sentences)), now, post_id, *check)
            for length, sentences in by_length.items()
        ],
    )


async def forget_outdated(db: aiosqlite.Connection, changed: Sequence[tuple[int, str, str]]) -> None:
    """Drop summaries of (post id, new content hash, new derived version) made from anything else.

    Runs before the post row is updated: a summary of the old content or of its old cleaning
    (a language model's too) would never be shown again.
    """
    await db.executemany(
        "DELETE FROM summaries WHERE post_id = ?1 AND (content_hash != ?2 "
        "OR ?3 != (SELECT derived_version FROM posts WHERE id = ?1))",
        changed,
    )
