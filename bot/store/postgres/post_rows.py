"""Stored rows mapped to `Post`s (PostgreSQL twin of `bot.store.post_rows`)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from bot.models import Post
from bot.store.post_rows import POST_COLUMNS

__all__ = ["POST_COLUMNS", "hydrate", "posts", "posts_by_ids"]


async def posts(db: asyncpg.Connection, sql: str, params: Sequence[object]) -> list[Post]:
    """The posts a `SELECT {POST_COLUMNS} …` query returns, in its order."""
    return await hydrate(db, await db.fetch(sql, *params))


async def posts_by_ids(db: asyncpg.Connection, post_ids: Sequence[int]) -> list[Post]:
    """The posts with these ids, in the order given; ids of posts gone meanwhile are left out."""
    rows = await db.fetch(f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ANY($1::bigint[])", list(post_ids))
    found = {post.id: post for post in await hydrate(db, rows)}
    return [found[post_id] for post_id in post_ids if post_id in found]


async def hydrate(db: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[Post]:
    """Posts from rows holding POST_COLUMNS, with their tags and categories in their stored order."""
    if not rows:
        return []
    ids = [int(row["id"]) for row in rows]
    tags = await _names_by_post(
        db,
        "SELECT pt.post_id, t.name FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
        "WHERE pt.post_id = ANY($1::bigint[]) ORDER BY pt.post_id, pt.position",
        ids,
    )
    categories = await _names_by_post(
        db,
        "SELECT pc.post_id, c.name FROM post_categories pc JOIN categories c ON c.id = pc.category_id "
        "WHERE pc.post_id = ANY($1::bigint[]) ORDER BY pc.post_id, pc.position",
        ids,
    )
    return [
        Post(
            id=row["id"],
            path=row["path"],
            jekyll_id=row["jekyll_id"],
            url=row["url"],
            abs_url=row["abs_url"],
            slug=row["slug"],
            title=row["title"],
            date_utc=row["date_utc"],
            date_iso=row["date_iso"],
            tags=tuple(tags.get(row["id"], ())),
            categories=tuple(categories.get(row["id"], ())),
            author=row["author"],
            excerpt=row["excerpt"],
            description=row["description"],
            reading_time=row["reading_time"],
            source_id=row["source_id"],
            source=row["source_name"] or "",
            image=row["image"] or None,
        )
        for row in rows
    ]


async def _names_by_post(db: asyncpg.Connection, sql: str, ids: list[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    for post_id, name in await db.fetch(sql, ids):
        result.setdefault(int(post_id), []).append(str(name))
    return result
