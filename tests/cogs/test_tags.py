"""/tag (paginated, owner-only buttons) and /tags end to end."""

from __future__ import annotations

from bot_harness import World

from bot.discord.ui import PAGINATOR_TIMEOUT


def buttons(message: dict) -> dict[str, dict]:
    return {c["label"]: c for row in message.get("components", []) for c in row["components"]}


async def test_tag_autocomplete_ranks_by_post_count(world: World) -> None:
    choices = await (await world.emu.autocomplete("tag", "tag", {"tag": ""})).choices()
    assert choices[0]["value"] == "AI"
    assert choices[0]["name"] == "AI (25)"
    narrowed = await (await world.emu.autocomplete("tag", "tag", {"tag": "ｒａ"})).choices()
    assert [c["value"] for c in narrowed] == ["RAG"]


async def test_tag_pages_turn_for_the_asker_only(world: World) -> None:
    emu = world.emu
    handle = await emu.slash_command("tag", {"tag": "ai"}, user=world.member, locale="en-US")
    first = await handle.message()
    embed = first["embeds"][0]
    assert embed["title"] == "Tag: AI"
    assert embed["footer"]["text"] == "Page 1/3"
    assert embed["description"].count("](https://") == 10
    controls = buttons(first)
    assert controls["◀"]["disabled"] is True and not controls["▶"].get("disabled")

    stranger = await emu.click_button(first, controls["▶"]["custom_id"], user=world.admin, locale="en-US")
    refusal = await stranger.response()
    assert refusal["data"]["flags"] & 64 and "Only the person" in refusal["data"]["content"]

    click = await emu.click_button(first, controls["▶"]["custom_id"], user=world.member, locale="en-US")
    turned = await click.response()
    assert turned["type"] == 7  # UPDATE_MESSAGE
    assert turned["data"]["embeds"][0]["footer"]["text"] == "Page 2/3"
    assert turned["data"]["embeds"][0]["description"] != embed["description"]


async def test_unknown_tag_suggests(world: World) -> None:
    data = (await (await world.emu.slash_command("tag", {"tag": "LLMs"}, locale="en-US")).response())["data"]
    assert data["flags"] & 64
    assert "There is no tag" in data["content"] and "LLM" in data["content"]


async def test_tags_lists_counts(world: World) -> None:
    message = await (await world.emu.slash_command("tags", locale="ja")).message()
    description = message["embeds"][0]["description"]
    assert "`AI` — 25" in description and "`RAG` — 1" in description
    assert message["embeds"][0]["title"] == "タグ一覧"


async def test_page_buttons_are_disabled_when_the_paginator_times_out(world: World) -> None:
    assert world.clock is not None
    handle = await world.emu.slash_command("tag", {"tag": "AI"}, user=world.member)
    first = await handle.message()
    assert not buttons(first)["▶"].get("disabled")
    world.clock.advance(PAGINATOR_TIMEOUT)  # three minutes without a click, on the bot's clock
    edited = await handle.message(edits=1, timeout_s=10)  # the bot edits its reply when the view times out
    assert all(button.get("disabled") for button in buttons(edited).values())
