"""The posts past `tsvector`'s limits, checked newest first and only as far as a page of unranked results needs.

A query with more exact matches than the ranking limit is answered unranked: in groups (the whole phrase
in the title, the phrase, the title, the rest), each newest first (`search_index._newest_first`). A post
past the limits is checked in Python against its stored tokens (~0.8 ms for a long post); checking every
such candidate before that answer cost a second during a cold ingest of long posts (1,250 of them match a
common word). A group needs only its newest `n` matches, so the candidates are walked newest first: every
title first (short, and a title group's member must hold every phrase there), the bodies fetched a few at
a time and checked only until the group is full. The answers are those of checking every candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import asyncpg

BODIES_AT_ONCE = 32


class Stats(Protocol):
    """What a group asks of a post's check (`search_index.DocStats`)."""

    @property
    def matches(self) -> bool: ...
    @property
    def in_title(self) -> bool: ...

    phrase_hit: bool


class LooseWalk:
    """The visible candidates past the limits (newest first), their checks made on demand and kept."""

    def __init__(
        self,
        db: asyncpg.Connection,
        titles: list[tuple[int, str]],
        title_holds_all: Callable[[str], bool],
        stats_of: Callable[[str, str], Stats],
    ) -> None:
        self._db = db
        self._ids = [post_id for post_id, _ in titles]
        self._titles = dict(titles)
        self._title_holds_all = title_holds_all
        self._stats_of = stats_of
        self._bodies: dict[int, str] = {}
        self._stats: dict[int, Stats] = {}

    @classmethod
    async def load(
        cls,
        db: asyncpg.Connection,
        loose_any: str | None,
        now: float,
        source_id: int | None,
        title_holds_all: Callable[[str], bool],
        stats_of: Callable[[str, str], Stats],
    ) -> LooseWalk:
        """The candidates: posts past the limits holding the query's tokens (all of them when `loose_any` is
        None), visible now and of the source asked for; their titles only."""
        rows = await db.fetch(
            "SELECT s.post_id, s.title_tokens FROM post_search s JOIN posts p ON p.id = s.post_id "
            "WHERE NOT s.exact AND ($1::tsquery IS NULL OR s.lexemes @@ $1::tsquery) AND p.date_utc <= $2 "
            "AND ($3::bigint IS NULL OR p.source_id = $3) ORDER BY s.post_id DESC",
            loose_any,
            float(now),
            source_id,
        )
        return cls(db, [(int(row["post_id"]), str(row["title_tokens"])) for row in rows], title_holds_all, stats_of)

    @classmethod
    def checked(cls, db: asyncpg.Connection, stats: Mapping[int, Stats]) -> LooseWalk:
        """A walk over candidates already checked, each with its check."""
        walk = cls(db, [(post_id, "") for post_id in sorted(stats, reverse=True)], lambda _title: True, _unused)
        walk._stats.update(stats)
        return walk

    async def newest(self, wanted: Callable[[Stats], bool], count: int, title_group: bool) -> list[int]:
        """The newest `count` candidates whose check satisfies `wanted`; `title_group`: only a post holding every
        phrase in its title can (its title alone rules the others out)."""
        found: list[int] = []
        for at, post_id in enumerate(self._ids):
            if len(found) >= count:
                break
            if title_group and not self._title_holds_all(self._titles[post_id]):
                continue
            if wanted(await self._checked(at, post_id, title_group)):
                found.append(post_id)
        return found

    async def _checked(self, at: int, post_id: int, title_group: bool) -> Stats:
        stats = self._stats.get(post_id)
        if stats is None:
            if post_id not in self._bodies:
                await self._fetch_bodies([post_id] if title_group else self._ids[at : at + BODIES_AT_ONCE])
            stats = self._stats[post_id] = self._stats_of(self._titles[post_id], self._bodies.pop(post_id))
        return stats

    async def _fetch_bodies(self, post_ids: list[int]) -> None:
        missing = [post_id for post_id in post_ids if post_id not in self._stats and post_id not in self._bodies]
        rows = await self._db.fetch(
            "SELECT post_id, body_tokens FROM post_search WHERE post_id = ANY($1::bigint[])", missing
        )
        self._bodies.update((int(row["post_id"]), str(row["body_tokens"])) for row in rows)


def _unused(_title: str, _body: str) -> Stats:
    raise AssertionError("every candidate of this walk was checked already")
