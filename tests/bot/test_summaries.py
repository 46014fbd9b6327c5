"""Extractive summaries are made on first request from the stored body, then cached."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.content.cleaning import clean_body
from bot.content.summarize import SUMMARIZER_VERSION, Summary, summarize_all
from bot.services.ingest import ingest
from bot.services.summaries import SummaryService
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site
from bot.store import Store

REPO = Path(__file__).resolve().parents[2]
SEED = "2025-12-10-metallama-4llm-seed.md"


@pytest.fixture
async def seeded(tmp_path: Path):
    posts = tmp_path / "posts"
    posts.mkdir()
    shutil.copy2(REPO / "examples" / "posts" / SEED, posts / SEED)
    store = await Store.open(tmp_path / "kiji.sqlite3")
    site = load_site(posts)
    await ingest(store, site)
    (post,) = await store.all_posts()
    yield store, post, site, tmp_path / "kiji.sqlite3"
    await store.close()


def _made_from_the_file(site) -> dict[str, tuple[str, ...]]:
    parsed = parse_post((site.root / SEED).read_bytes(), f"_posts/{SEED}", site)
    return {str(k): s.sentences for k, s in summarize_all(parsed.title, clean_body(parsed.body, parsed.title)).items()}


async def test_first_request_summarises_the_stored_body_like_the_file(seeded) -> None:
    store, post, site, _ = seeded
    assert await store.get_summary(post.id, "standard") is None  # ingest no longer summarises
    expected = _made_from_the_file(site)
    assert expected["standard"]  # the seed article has prose to summarise
    for length in ("short", "standard", "long"):
        assert await SummaryService(store).extractive(post, length) == expected[length]
    shown = await SummaryService(store).shown(post, "standard")
    assert (shown.text, shown.source) == (Summary(expected["standard"]).text, "summary_source.extractive")


async def test_summaries_are_cached_and_redone_for_a_new_summariser(seeded) -> None:
    store, post, _, db_path = seeded
    first = await SummaryService(store).extractive(post, "long")
    assert await store.get_summary(post.id, "long", version=SUMMARIZER_VERSION) == first
    # A cached row is served as it is, whatever it says ...
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE summaries SET sentences = '[\"cached.\"]' WHERE post_id = ?", (post.id,))
    assert await SummaryService(store).extractive(post, "long") == ("cached.",)
    # ... until it was made by another summariser version.
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE summaries SET version = 'old' WHERE post_id = ?", (post.id,))
    assert await SummaryService(store).extractive(post, "long") == first


async def test_a_changed_post_drops_its_old_summaries(seeded) -> None:
    store, post, site, db_path = seeded
    await SummaryService(store).extractive(post, "short")
    path = site.root / SEED
    path.write_bytes(path.read_bytes() + "\n\n追記の段落です。新しい内容が加わりました。\n".encode())
    report = await ingest(store, site)
    assert report.updated == 1
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT count(*) FROM summaries WHERE post_id = ?", (post.id,)).fetchone() == (0,)


async def test_a_summary_of_text_replaced_meanwhile_is_not_cached(seeded) -> None:
    """The post is re-ingested between reading its text and caching the summary made from it."""
    store, post, site, _ = seeded
    before = await store.get_text_and_outline(post.id)
    assert before is not None
    path = site.root / SEED
    path.write_bytes(path.read_bytes() + "\n\n追記の段落です。新しい内容が加わりました。\n".encode())
    assert (await ingest(store, site)).updated == 1
    old, new = {"short": ["old."]}, {"short": ["new."]}
    await store.put_summaries(post.id, "extractive", SUMMARIZER_VERSION, old, made_from=before.made_from)
    assert await store.get_summary(post.id, "short") is None
    after = await store.get_text_and_outline(post.id)
    assert after is not None and after.made_from != before.made_from
    await store.put_summaries(post.id, "extractive", SUMMARIZER_VERSION, new, made_from=after.made_from)
    assert await store.get_summary(post.id, "short") == ("new.",)


async def test_re_deriving_a_post_drops_summaries_of_its_old_cleaning(seeded) -> None:
    store, post, site, db_path = seeded
    await SummaryService(store).extractive(post, "short")
    with sqlite3.connect(db_path) as raw:  # as if an older cleaner had derived the stored text
        raw.execute("UPDATE posts SET derived_version = 'old' WHERE id = ?", (post.id,))
    assert (await ingest(store, site)).updated == 1  # same file, re-derived
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT count(*) FROM summaries WHERE post_id = ?", (post.id,)).fetchone() == (0,)
