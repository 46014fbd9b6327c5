"""The summary service over a real store and a real (loopback) chat-completions server.

What is counted is work: requests the model server received, rows in the summary cache.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from factories import EN_BODY, write_post
from fake_llm import GOOD_ANSWER, FakeLLM

from bot.content.summarize import Summary
from bot.models import Post
from bot.services.ingest import ingest
from bot.services.llm import LLMClient, LLMConfig
from bot.services.summaries import SummaryService
from bot.sources.site_config import Site, load_site
from bot.store import Store

ADDED = "A later paragraph about vector databases was added to the article after it was published."


@dataclass
class Setup:
    store: Store
    site: Site
    post: Post
    path: Path
    fake: FakeLLM
    llm: LLMClient
    db_path: Path


@pytest_asyncio.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    posts = tmp_path / "posts"
    posts.mkdir()
    path = write_post(posts, "2025-06-02-rag.md", "What RAG is for", EN_BODY, tags="[RAG]")
    site = load_site(posts)
    store = await Store.open(tmp_path / "kiji.sqlite3")
    await ingest(store, site)
    (post,) = await store.all_posts()
    fake = FakeLLM()
    await fake.start()
    # A long timeout: a held request stays in flight until the test releases it.
    llm = LLMClient(LLMConfig(fake.base_url, "tiny-model", None, timeout=60.0, prompt_chars=6000))
    try:
        yield Setup(store, site, post, path, fake, llm, tmp_path / "kiji.sqlite3")
    finally:
        await llm.close()
        await fake.stop()
        await store.close()


async def _edit_and_ingest(setup: Setup) -> Post:
    setup.path.write_text(setup.path.read_text(encoding="utf-8") + "\n" + ADDED + "\n", encoding="utf-8")
    assert (await ingest(setup.store, setup.site)).updated == 1
    (post,) = await setup.store.all_posts()
    return post


def _cached_rows(setup: Setup) -> list[tuple[str, str]]:
    with sqlite3.connect(setup.db_path) as raw:
        return raw.execute("SELECT source, length FROM summaries ORDER BY source, length").fetchall()


async def test_concurrent_requests_for_one_post_ask_the_model_once(setup: Setup) -> None:
    service = SummaryService(setup.store, setup.llm)
    setup.fake.mode = "slow"  # held until released
    asking = [asyncio.create_task(service.shown(setup.post, "standard")) for _ in range(6)]
    await setup.fake.arrived.wait()  # the first request is at the model; the others started with it
    setup.fake.release.set()
    shown = await asyncio.gather(*asking)
    assert {(s.text, s.source, s.model) for s in shown} == {(GOOD_ANSWER, "summary_source.llm", "tiny-model")}
    assert len(setup.fake.requests) == 1
    # Nothing is kept per post once the work is done (the old per-post locks were never freed).
    assert len(service.flights) == 0
    # ... and a later request reads the cache.
    assert (await service.shown(setup.post, "standard")).text == GOOD_ANSWER
    assert len(setup.fake.requests) == 1


async def test_each_length_and_model_is_its_own_summary(setup: Setup) -> None:
    service = SummaryService(setup.store, setup.llm)
    await service.shown(setup.post, "short")
    await service.shown(setup.post, "long")
    assert len(setup.fake.requests) == 2
    other = LLMClient(LLMConfig(setup.fake.base_url, "other-model", None, timeout=60.0, prompt_chars=6000))
    try:
        shown = await SummaryService(setup.store, other).shown(setup.post, "short")
    finally:
        await other.close()
    assert shown.model == "other-model" and len(setup.fake.requests) == 3
    assert _cached_rows(setup) == [
        ("llm:other-model:1", "short"),
        ("llm:tiny-model:1", "long"),
        ("llm:tiny-model:1", "short"),
    ]


async def test_an_edited_post_is_summarised_again_from_its_new_text(setup: Setup) -> None:
    service = SummaryService(setup.store, setup.llm)
    await service.shown(setup.post, "standard")
    extractive_before = await SummaryService(setup.store).shown(setup.post, "long")
    assert ADDED not in extractive_before.text
    post = await _edit_and_ingest(setup)
    assert _cached_rows(setup) == []  # the ingest dropped both producers' summaries of the old text
    await service.shown(post, "standard")
    assert len(setup.fake.requests) == 2
    assert ADDED in setup.fake.requests[1]["messages"][1]["content"]  # the model read the new text
    extractive_after = await SummaryService(setup.store).shown(post, "long")
    assert extractive_after.text != extractive_before.text


async def test_an_answer_about_text_replaced_meanwhile_is_shown_but_not_cached(setup: Setup) -> None:
    service = SummaryService(setup.store, setup.llm)
    setup.fake.mode = "slow"
    asking = asyncio.create_task(service.shown(setup.post, "standard"))
    await setup.fake.arrived.wait()
    post = await _edit_and_ingest(setup)  # while the model is reading the old text
    setup.fake.release.set()
    assert (await asking).text == GOOD_ANSWER
    assert _cached_rows(setup) == []
    setup.fake.mode = "ok"
    await service.shown(post, "standard")
    assert len(setup.fake.requests) == 2 and ADDED in setup.fake.requests[1]["messages"][1]["content"]
    assert _cached_rows(setup) == [("llm:tiny-model:1", "standard")]


async def test_a_failing_model_falls_back_to_the_extractive_summary_with_a_note(setup: Setup) -> None:
    service = SummaryService(setup.store, setup.llm)
    extractive = await SummaryService(setup.store).extractive(setup.post, "standard")
    assert extractive
    for mode in ("error", "garbage", "wrong-shape"):
        setup.fake.mode = mode
        shown = await service.shown(setup.post, "standard")
        assert (shown.text, shown.source) == (Summary(extractive).text, "summary_source.llm_fallback")
        assert shown.model is None
    # A failure is not cached: once the model answers again, its summary is shown.
    setup.fake.mode = "ok"
    shown = await service.shown(setup.post, "standard")
    assert (shown.text, shown.source) == (GOOD_ANSWER, "summary_source.llm")
    assert len(setup.fake.requests) == 4


async def test_concurrent_failures_ask_once_and_all_fall_back(setup: Setup) -> None:
    service = SummaryService(setup.store, setup.llm)
    setup.fake.mode = "slow"
    asking = [asyncio.create_task(service.shown(setup.post, "short")) for _ in range(4)]
    await setup.fake.arrived.wait()
    setup.fake.mode = "error"  # the held request answers 503 once released
    setup.fake.release.set()
    shown = await asyncio.gather(*asking)
    assert {s.source for s in shown} == {"summary_source.llm_fallback"}
    assert len(setup.fake.requests) == 1


async def test_without_a_model_the_extractive_summary_is_made_once_and_cached(setup: Setup) -> None:
    service = SummaryService(setup.store)
    shown = await asyncio.gather(*(service.shown(setup.post, "standard") for _ in range(4)))
    assert len({s.text for s in shown}) == 1 and shown[0].source == "summary_source.extractive"
    assert _cached_rows(setup) == [("extractive", "long"), ("extractive", "short"), ("extractive", "standard")]
    assert setup.fake.requests == []
