"""The card layout's thumbnail end to end: a post's picture, as the emulated Discord received it.

The real bot on the loopback Discord, a Jekyll site with an address and a `baseurl`; every request
is validated against Discord's OpenAPI spec by the emulator (a violation fails the test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from bot_harness import World, bot_settings, poll_and_deliver, populate, running_bot
from factories import JA_BODY, write_post

from bot.clock import ManualClock
from bot.emulator import DiscordEmulator

SITE = "https://blog.example.org/notes"
SECTION, TEXT, THUMBNAIL, CONTAINER = 9, 10, 11, 17


@pytest_asyncio.fixture
async def blog(discord_emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[World]:
    guild, channel, admin, member = populate(discord_emulator)
    site = tmp_path / "site"
    (site / "_posts").mkdir(parents=True)
    (site / "_config.yml").write_text(
        "title: Tech Notes\nurl: https://blog.example.org\nbaseurl: /notes\ntimezone: Asia/Tokyo\n", encoding="utf-8"
    )
    write_post(site / "_posts", "2025-06-01-old.md", "古い記事", JA_BODY, tags="[AI]", image="/assets/old.png")
    clock = ManualClock()
    settings = bot_settings(discord_emulator, site / "_posts", tmp_path / "kiji.sqlite3", site_dir=site)
    async with running_bot(discord_emulator, settings, clock=clock) as bot:
        yield World(
            discord_emulator,
            bot,
            guild,
            channel,
            admin,
            member,
            site / "_posts",
            tmp_path / "kiji.sqlite3",
            {},
            0,
            clock,
        )


async def subscribe(world: World, **options: object) -> None:
    handle = await world.emu.slash_command(
        "subscribe", {"channel": world.channel, **options}, user=world.admin, locale="en-US"
    )
    assert "will be announced" in (await handle.response())["data"]["content"]


async def announce(world: World, slug: str, title: str, body: str, **front: str) -> dict:
    """Write a new post, let the bot read the blog and deliver, and return the message the channel got."""
    assert world.clock is not None
    world.clock.advance(0.01)
    write_post(world.posts_dir, f"2025-07-01-{slug}.md", title, body, tags="[AI]", **front)
    await poll_and_deliver(world.bot)
    messages = world.emu.sent_messages.get(world.channel, [])
    assert messages, "nothing was announced"
    return messages[-1]


def card(message: dict) -> list[dict]:
    assert message["flags"] & (1 << 15)  # Components V2
    [container] = message["components"]
    assert container["type"] == CONTAINER
    return list(container["components"])


async def test_a_card_shows_the_front_matter_image_beside_the_title_and_summary(blog: World) -> None:
    await subscribe(blog, layout="card")
    message = await announce(blog, "pictured", "画像つきの記事", JA_BODY, image="/assets/images/og.png")
    parts = card(message)
    [section] = [part for part in parts if part["type"] == SECTION]
    heading, summary = section["components"]
    assert heading["type"] == TEXT and heading["content"].startswith("### [画像つきの記事](https://blog.example.org/")
    assert summary["type"] == TEXT and "Llama 4" in summary["content"]
    accessory = section["accessory"]
    assert accessory["type"] == THUMBNAIL
    assert accessory["media"]["url"] == f"{SITE}/assets/images/og.png"  # resolved like jekyll-seo-tag: url + baseurl
    assert accessory["description"] == "画像つきの記事"
    assert [part["type"] for part in parts] == [SECTION, TEXT, 1]  # then the details line and the Read button
    assert blog.emu.violations == []


async def test_without_front_matter_image_the_card_shows_the_bodys_first_image(blog: World) -> None:
    await subscribe(blog, layout="card")
    body = JA_BODY + "\n```\n![not this](/in-code.png)\n```\n\n![図](figure.png)\n\n<img src='/later.png'>\n"
    message = await announce(blog, "inline", "本文に画像", body)
    [section] = [part for part in card(message) if part["type"] == SECTION]
    # relative to the post's page: https://blog.example.org/notes/2025/07/01/inline.html
    assert section["accessory"]["media"]["url"] == f"{SITE}/2025/07/01/figure.png"


async def test_a_post_without_an_image_gets_the_card_of_before(blog: World) -> None:
    await subscribe(blog, layout="card")
    message = await announce(blog, "plain", "画像のない記事", JA_BODY, image="javascript:alert(1)")
    parts = card(message)
    assert [part["type"] for part in parts] == [TEXT, TEXT, TEXT, 1]  # title, summary, details, Read button
    assert parts[0]["content"].startswith("### [画像のない記事](")
    assert "accessory" not in str(message) and THUMBNAIL not in [part.get("type") for part in parts]


async def test_the_embed_and_the_image_placeholder_carry_the_picture_too(blog: World) -> None:
    await subscribe(blog)  # the embed layout
    message = await announce(blog, "embedded", "埋め込みの記事", JA_BODY, image="https://cdn.example.net/e.png")
    assert message["embeds"][0]["thumbnail"]["url"] == "https://cdn.example.net/e.png"
    await subscribe(blog, layout="text", template="{title} {image||url}")
    message = await announce(blog, "texted", "テキストの記事", JA_BODY, image="/t.png")
    assert message["content"] == f"テキストの記事 {SITE}/t.png"
    message = await announce(blog, "fallback", "画像なし", JA_BODY)
    assert message["content"].startswith("画像なし https://blog.example.org/notes/2025/07/01/fallback")
