"""Test data builders shared by the store, delivery and bot tests."""

from __future__ import annotations

from bot import fts
from bot.store import FileState, PostRecord

NOW = 1_800_000_000.0  # a fixed "now" so visibility does not depend on the wall clock


def record(
    path: str,
    title: str,
    body: str,
    *,
    tags: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    date_utc: float = NOW - 86_400,
) -> PostRecord:
    return PostRecord(
        path=path,
        jekyll_id="/" + path,
        url="/" + path,
        abs_url="https://example.org/" + path,
        slug=path,
        title=title,
        date_utc=date_utc,
        date_iso="2027-01-15T08:00:00+09:00",
        tags=tags,
        categories=categories,
        author="Someone",
        excerpt=None,
        description=None,
        reading_time=3,
        text=body,
        title_tokens=fts.index_tokens(title),
        body_tokens=fts.index_tokens(body),
        file=FileState(len(body), 1, f"hash-{path}-{len(body)}"),
    )
