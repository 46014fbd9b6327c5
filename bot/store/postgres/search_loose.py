"""The posts past `tsvector`'s limits, checked newest first and only as far as a page of unranked results needs.

A query with more exact matches than the ranking limit is answered unranked: in groups (the whole phrase
in the title, the phrase, the title, the rest), each newest first (`search_index._newest_first`). A post
past the limits whose vector cannot answer for the query (a crowded lexeme of the query, see
`search_index._vector`) is checked in Python against its stored tokens (~0.8 ms for a long post); checking
every such candidate before that answer cost a second during a cold ingest of long posts (1,250 of them
match a common word). A group needs only its newest `n` matches, so the candidates are walked newest first: every
title first (short, and a title group's member must hold every phrase there), the bodies fetched a few at
a time and checked only until the group is full. The answers are those of checking every candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import asyncpg

BODIES_AT_ONCE = 32


class Stats(Protocol):
    """What a group asks of a post's check (`search_stats.DocStats`)."""

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
        checked: Mapping[int, Stats],
        pending: list[int],
        title_holds_all: Callable[[str], bool],
        stats_of: Callable[[str, str], Stats],
    ) -> LooseWalk:
        """The visible candidates: those `checked` already (from their vectors), and those `pending` a check
        against their tokens, whose titles are read here (their bodies when a group needs them)."""
        rows = await db.fetch(
            "SELECT post_id, title_tokens FROM post_search WHERE post_id = ANY($1::bigint[])", pending
        )
        titles = {post_id: "" for post_id in checked} | {int(row["post_id"]): str(row["title_tokens"]) for row in rows}
        walk = cls(db, sorted(titles.items(), reverse=True), title_holds_all, stats_of)
        walk._stats.update(checked)
        return walk

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
            if title_group and post_id not in self._stats and not self._title_holds_all(self._titles[post_id]):
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
