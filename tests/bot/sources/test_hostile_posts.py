"""Hostile post files (issue 14): each is reported with its path and reason, every other post is stored."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from factories import write_post

from bot.services.ingest import ingest
from bot.sources.front_matter import read_front_matter
from bot.sources.post_error import PostError
from bot.sources.site_config import load_site
from bot.store.database import Store

# 9 levels of 9 aliases: 9**9 = 387,420,489 strings once expanded, in 373 bytes or so.
BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{name}: &{name} [{','.join(['*' + prev] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "tags: *i\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "_posts").mkdir(parents=True)
    (root / "_config.yml").write_text("title: Hostile\n", encoding="utf-8")
    write_post(root / "_posts", "2024-01-01-good.md", "Good", "A good post about tea.")
    return root


async def ingest_twice(store: Store, root: Path) -> dict[str, str]:
    """Ingest, check the good post is stored, ingest again (the same bad files must not break it)."""
    first = await asyncio.wait_for(ingest(store, load_site(root)), timeout=120)
    assert [p.title for p in await store.all_posts()] == ["Good"]
    second = await asyncio.wait_for(ingest(store, load_site(root)), timeout=120)
    assert {f.path for f in second.failed} == {f.path for f in first.failed}
    return {f.path: f.error for f in first.failed}


async def test_a_reading_time_past_64_bits_is_reported(site: Path, store: Store) -> None:
    write_post(site / "_posts", "2024-01-02-long.md", "Long", "Body.", reading_time="99999999999999999999999")
    failed = await ingest_twice(store, site)
    assert list(failed) == ["_posts/2024-01-02-long.md"]
    assert "reading_time" in failed["_posts/2024-01-02-long.md"]


async def test_a_file_name_that_is_not_utf8_is_reported_escaped(site: Path, store: Store) -> None:
    bad = os.fsencode(site / "_posts") + b"/2024-01-02-bad\xff.md"
    with open(bad, "wb") as handle:  # noqa: ASYNC230 - a bytes path, which Path cannot hold
        handle.write(b"---\ntitle: Bad name\n---\nBody.\n")
    failed = await ingest_twice(store, site)
    assert list(failed) == ["_posts/2024-01-02-bad\\xff.md"]
    assert "UTF-8" in failed["_posts/2024-01-02-bad\\xff.md"]


async def test_a_named_pipe_is_reported_not_waited_on(site: Path, store: Store) -> None:
    os.mkfifo(site / "_posts" / "2024-01-02-pipe.md")
    failed = await ingest_twice(store, site)
    assert "named pipe" in failed["_posts/2024-01-02-pipe.md"]


async def test_a_symlink_out_of_the_site_is_not_read(site: Path, store: Store) -> None:
    (site / "_posts" / "2024-01-02-zero.md").symlink_to("/dev/zero")
    failed = await ingest_twice(store, site)
    assert "outside the site" in failed["_posts/2024-01-02-zero.md"]


async def test_a_symlink_inside_the_site_is_followed(site: Path, store: Store) -> None:
    write_post(site, "2024-01-03-kept-elsewhere.md", "Linked", "A linked post.")
    (site / "_posts" / "2024-01-03-linked.md").symlink_to(site / "2024-01-03-kept-elsewhere.md")
    report = await ingest(store, load_site(site))
    assert report.failed == []
    assert {p.title for p in await store.all_posts()} == {"Good", "Linked"}


@pytest.mark.parametrize(("target", "reason"), [("/", "outside the site"), ("_posts", "loop")])
async def test_a_posts_folder_linked_away_or_to_itself_is_reported_not_walked(
    tmp_path: Path, store: Store, target: str, reason: str
) -> None:
    root = tmp_path / "linked"
    (root / "blog" / "_posts").mkdir(parents=True)
    (root / "_config.yml").write_text("title: Linked\n", encoding="utf-8")
    write_post(root / "blog" / "_posts", "2024-01-01-good.md", "Good", "A good post about tea.")
    (root / "_posts").symlink_to(target)
    failed = await ingest_twice(store, root)
    assert list(failed) == ["_posts"]
    assert reason in failed["_posts"]


async def test_billion_laughs_front_matter_is_refused(site: Path, store: Store) -> None:
    text = f"---\n{BILLION_LAUGHS}---\nBody.\n"
    assert len(BILLION_LAUGHS) < 400
    (site / "_posts" / "2024-01-02-laughs.md").write_text(text, encoding="utf-8")
    failed = await ingest_twice(store, site)
    assert "aliases" in failed["_posts/2024-01-02-laughs.md"]


def test_the_front_matter_reader_refuses_alias_bombs_and_keeps_ordinary_aliases() -> None:
    with pytest.raises(PostError, match="aliases"):
        read_front_matter(f"---\n{BILLION_LAUGHS}---\n", "x.md")
    with pytest.raises(PostError, match="contains it"):
        read_front_matter("---\na: &a [1, *a]\n---\n", "x.md")
    shared = read_front_matter("---\nbase: &b [ai, llm]\ntags: *b\n---\nBody\n", "x.md")
    assert shared.data["tags"] == ["ai", "llm"]
    assert shared.body == "Body\n"
