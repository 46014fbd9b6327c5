"""The posts past `tsvector`'s limits, checked newest first and only as far as a page of unranked results needs.

A query with more exact matches than the ranking limit is answered unranked: in groups (the whole phrase
in the title, the phrase, the title, the rest), each newest first (`search_index._newest_first`). A post
past the limits whose vector cannot answer for the query (a crowded lexeme of the query, see
`search_index._vector`) is checked in Python against its stored tokens (~0.8 ms for a long post); checking
every such candidate before that answer cost a second during a cold ingest of long posts (1,250 of them
match a common word). A group needs only its newest `n` matches, so the candidates are walked newest first: every
title first (a title group's member must hold every phrase there: told by its title's vector, or its
title's tokens), then their checks a batch at a time, only until the group is full. The answers are those
of checking every candidate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

CHECKS_AT_ONCE = 32


class Stats(Protocol):
    """What a group asks of a post's check (`search_stats.DocStats`)."""

    @property
    def matches(self) -> bool: ...
    @property
    def in_title(self) -> bool: ...

    phrase_hit: bool


class LooseWalk:
    """The visible candidates past the limits (newest first), their checks made on demand, a batch at a time,
    and kept."""

    def __init__(
        self, candidates: list[tuple[int, bool]], check: Callable[[list[int]], Awaitable[Mapping[int, Stats]]]
    ) -> None:
        """`candidates`: (post id, whether its title may hold every phrase), newest first; `check`: the checks of
        a batch of them."""
        self._ids = [post_id for post_id, _ in candidates]
        self._title_hit = dict(candidates)
        self._check = check
        self._stats: dict[int, Stats] = {}

    @classmethod
    def checked(cls, stats: Mapping[int, Stats]) -> LooseWalk:
        """A walk over candidates already checked, each with its check."""
        walk = cls([(post_id, True) for post_id in sorted(stats, reverse=True)], _unused)
        walk._stats.update(stats)
        return walk

    async def newest(self, wanted: Callable[[Stats], bool], count: int, title_group: bool) -> list[int]:
        """The newest `count` candidates whose check satisfies `wanted`; `title_group`: only a post whose title
        may hold every phrase can (the others are not checked for it)."""
        found: list[int] = []
        for at, post_id in enumerate(self._ids):
            if len(found) >= count:
                break
            if title_group and not self._title_hit[post_id]:
                continue
            stats = self._stats.get(post_id)
            if stats is None:
                batch = [
                    later
                    for later in self._ids[at:]
                    if later not in self._stats and (self._title_hit[later] or not title_group)
                ][:CHECKS_AT_ONCE]
                self._stats.update(await self._check(batch))
                stats = self._stats[post_id]
            if wanted(stats):
                found.append(post_id)
        return found


async def _unused(_post_ids: list[int]) -> Mapping[int, Stats]:
    raise AssertionError("every candidate of this walk was checked already")
