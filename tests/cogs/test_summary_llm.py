"""/summary with a language model configured: defer, the model's answer, cache, and fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from bot_harness import bot_settings, populate, running_bot
from factories import make_blog
from fake_llm import GOOD_ANSWER, FakeLLM

from bot.emulator import DiscordEmulator


@pytest_asyncio.fixture
async def llm_world(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> AsyncIterator[tuple[DiscordEmulator, FakeLLM]]:
    fake = FakeLLM()
    await fake.start()
    populate(discord_emulator)
    settings = bot_settings(
        discord_emulator,
        make_blog(tmp_path / "posts"),
        tmp_path / "kiji.sqlite3",
        llm_base_url=fake.base_url,
        llm_model="tiny-model",
        llm_timeout=60.0,  # a held request stays in flight until a test releases it; no test waits on it
    )
    try:
        async with running_bot(discord_emulator, settings):
            yield discord_emulator, fake
    finally:
        await fake.stop()


async def test_summary_defers_then_shows_the_models_answer_and_caches_it(
    llm_world: tuple[DiscordEmulator, FakeLLM],
) -> None:
    emu, fake = llm_world
    handle = await emu.slash_command("summary", {"post": "MetaのLlama 4発表"}, locale="en-US")
    assert (await handle.response())["type"] == 5  # deferred: a model may take seconds
    message = await handle.message(edits=1)
    embed = message["embeds"][0]
    assert embed["description"] == GOOD_ANSWER
    assert embed["footer"]["text"] == "Summary: written by tiny-model"
    again = await emu.slash_command("summary", {"post": "MetaのLlama 4発表"}, locale="en-US")
    assert (await again.message(edits=1))["embeds"][0]["description"] == GOOD_ANSWER
    assert len(fake.requests) == 1  # the second answer came from the cache


async def test_broken_model_falls_back_and_says_so(llm_world: tuple[DiscordEmulator, FakeLLM]) -> None:
    emu, fake = llm_world
    for mode in ("error", "garbage"):
        fake.mode = mode
        handle = await emu.slash_command("summary", {"post": "What RAG is for"}, locale="en-US")
        embed = (await handle.message(edits=1))["embeds"][0]
        assert "language model was unavailable" in embed["footer"]["text"]
        assert "Retrieval" in embed["description"] or "RAG" in embed["description"]


async def test_hostile_model_output_is_cut_and_pings_nobody(llm_world: tuple[DiscordEmulator, FakeLLM]) -> None:
    emu, fake = llm_world
    fake.mode = "hostile"
    handle = await emu.slash_command("summary", {"post": "@everyone 緊急"})
    await handle.response()
    message = await handle.message(edits=1)
    assert len(message["embeds"][0]["description"]) <= 4096
    edit = next(r for r in reversed(emu.requests) if r.method == "PATCH" and "@original" in r.path)
    assert edit.body["allowed_mentions"]["parse"] == []


async def test_concurrent_requests_ask_the_model_once(llm_world: tuple[DiscordEmulator, FakeLLM]) -> None:
    emu, fake = llm_world
    fake.mode = "slow"  # the first request is held at the model while the others come in
    handles = [await emu.slash_command("summary", {"post": "What RAG is for"}, locale="en-US") for _ in range(4)]
    for handle in handles:
        assert (await handle.response())["type"] == 5
    await fake.arrived.wait()
    fake.release.set()
    for handle in handles:
        message = await handle.message(edits=1)
        assert message["embeds"][0]["description"] == GOOD_ANSWER
        assert message["embeds"][0]["footer"]["text"] == "Summary: written by tiny-model"
    assert len(fake.requests) == 1


async def test_random_defers_while_the_model_thinks(llm_world: tuple[DiscordEmulator, FakeLLM]) -> None:
    emu, fake = llm_world
    fake.mode = "slow"  # the model answers only once released
    handle = await emu.slash_command("random", {}, locale="en-US")
    assert (await handle.response())["type"] == 5
    fake.mode = "ok"
    fake.release.set()
    message = await handle.message(edits=1)
    assert message["embeds"][0]["footer"]["text"] == "Summary: written by tiny-model"


async def test_subscribe_preview_defers_while_the_model_thinks(
    llm_world: tuple[DiscordEmulator, FakeLLM],
) -> None:
    emu, fake = llm_world
    guild = next(iter(emu.guilds.values()))
    admin = int(guild["owner_id"])
    channel = next(c for c in map(int, guild["channel_ids"]) if emu.channels[c]["type"] == 0)
    fake.mode = "slow"
    handle = await emu.slash_command("subscribe", {"channel": channel}, user=admin, locale="en-US")
    response = await handle.response()
    assert response["type"] == 5 and response["data"]["flags"] & 64  # deferred, and only the admin sees it
    fake.release.set()
    message = await handle.message(edits=1)
    assert "will be announced" in message["content"] and message["embeds"]
