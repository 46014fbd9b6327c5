"""/search end to end: Japanese, English, two-character and hostile queries."""

from __future__ import annotations

import pytest
from bot_harness import World


async def results(world: World, query: str, locale: str = "ja") -> dict:
    return (await (await world.emu.slash_command("search", {"query": query}, locale=locale)).response())["data"]


async def test_japanese_two_character_query_with_snippet(world: World) -> None:
    data = await results(world, "推論")
    description = data["embeds"][0]["description"]
    assert "MetaのLlama 4発表" in description
    assert "推論コスト" in description  # the snippet around the hit


async def test_title_matches_come_first(world: World) -> None:
    description = (await results(world, "Llama"))["embeds"][0]["description"]
    titles = [line for line in description.split("\n") if line.startswith("**[")]
    assert "Llama" in titles[0]


async def test_english_word_prefix(world: World) -> None:
    description = (await results(world, "retriev", "en-US"))["embeds"][0]["description"]
    assert "What RAG is for" in description


@pytest.mark.parametrize("query", ['"', "*", "AND (", "NEAR(", '" OR 1=1 --'])
async def test_hostile_queries_are_answered_as_text(world: World, query: str) -> None:
    data = await results(world, query, "en-US")
    assert (data.get("content") or "").startswith("Nothing found") or data["embeds"][0]["title"].startswith("Search")


async def test_no_results_is_ephemeral(world: World) -> None:
    data = await results(world, "量子もつれ", "en-US")
    assert data["flags"] & 64 and "Nothing found" in data["content"]


async def test_search_pages_turn_with_snippets(world: World) -> None:
    handle = await world.emu.slash_command("search", {"query": "生成AI"}, user=world.member, locale="en-US")
    first = await handle.message()
    assert first["embeds"][0]["footer"]["text"] == "Page 1/3"
    [row] = first["components"]
    forward = next(c for c in row["components"] if c["label"] == "▶")
    turned = await (await world.emu.click_button(first, forward["custom_id"], user=world.member)).response()
    page_two = turned["data"]["embeds"][0]
    assert page_two["footer"]["text"] == "Page 2/3"
    assert "生成AI" in page_two["description"]  # snippets are made for the page being shown


async def test_one_result_is_one_post_found(world: World) -> None:
    data = await results(world, "retriev", "en-US")
    description = data["embeds"][0]["description"]
    assert sum(line.startswith("**[") for line in description.split("\n")) == 1, description
    assert description.startswith("1 post found"), description
