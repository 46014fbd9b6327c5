"""Resolving what a user typed (an autocomplete id or a title) to a post."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import record

from bot.services.lookup import parse_id, resolve_post
from bot.store import Store


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(tmp_path / "kiji.sqlite3")
    # dated in the real past: resolve_post hides posts that are not due yet by the wall clock
    past = 1_700_000_000.0
    posts = [record("a", "RAGの基礎", "x", date_utc=past), record("b", "②の話", "y", date_utc=past)]
    await s.write_batch(posts, now=past)
    yield s
    await s.close()


def test_only_ascii_digits_sqlite_can_hold_are_ids() -> None:
    assert parse_id("42") == 42
    assert parse_id(str(2**63 - 1)) == 2**63 - 1
    for text in ("²", "①", "٣", str(2**63), "9" * 20, "-1", "1.0", "", " 1"):
        assert parse_id(text) is None, text


async def test_digit_like_input_is_a_title_not_a_crash(store: Store) -> None:
    post = await resolve_post(store, "②")
    assert post is not None and post.title == "②の話"
    assert await resolve_post(store, "9" * 20) is None
    first = await resolve_post(store, "RAG")
    assert first is not None
    again = await resolve_post(store, str(first.id))
    assert again is not None and again.id == first.id
