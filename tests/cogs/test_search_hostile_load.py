"""One member's hostile /search does not freeze the bot for everyone else (issue 14, item 6), end to end.

`の の の …` (100 one-character words, 199 characters, inside the option's 200) once made the index
merge the doclist of every bigram starting with の a hundred times: 12.9 s on the 2,513-post blog,
during which every other member's /about and /latest missed Discord's 3-second deadline. Here the
real bot serves a store where that query is expensive (hundreds of posts, thousands of distinct
の-bigrams) while other members keep using it. Nothing is timed by the test: the emulator refuses
any initial response later than its `interaction_deadline` (404 10062) and records it as a
violation, which fails the test at teardown.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from bot_harness import bot_settings, populate, running_bot
from factories import make_blog, write_post

from bot.discord.client import KijiBot
from bot.emulator import DiscordEmulator
from bot.emulator.interactions import InteractionHandle

HOSTILE_QUERY = " ".join(["の"] * 100)
EXTRA_POSTS = 600
NEWEST_TITLE = "いちばん新しい記事"
# Rounds of /about + /latest sent while the search runs; a bound so a hung search ends the test.
MAX_ROUNDS = 200


def japanese_body(rng: random.Random, sentences: int = 30) -> str:
    """Sentences of made-up two-kanji words joined by の: many distinct bigrams that start with の."""

    def word() -> str:
        return chr(0x4E00 + rng.randrange(6000)) + chr(0x4E00 + rng.randrange(6000))

    return "".join(f"{word()}の{word()}は{word()}の{word()}である。" for _ in range(sentences))


@pytest_asyncio.fixture
async def busy_blog(discord_emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[tuple[KijiBot, list[int]]]:
    """The bot over the small test blog plus EXTRA_POSTS generated posts; (bot, [searcher, two other members])."""
    guild, _channel, _admin, searcher = populate(discord_emulator)
    others = [discord_emulator.add_member(guild, name=name) for name in ("reader-two", "reader-three")]
    posts_dir = make_blog(tmp_path / "posts")
    rng = random.Random(14)
    for number in range(EXTRA_POSTS):
        day = 1 + number % 28
        write_post(
            posts_dir, f"2024-{1 + number % 12:02d}-{day:02d}-load-{number}.md", f"負荷{number}", japanese_body(rng)
        )
    write_post(posts_dir, "2025-12-31-newest.md", NEWEST_TITLE, japanese_body(rng))
    settings = bot_settings(discord_emulator, posts_dir, tmp_path / "kiji.sqlite3")
    async with running_bot(discord_emulator, settings, ready_timeout_s=120) as bot:
        yield bot, [searcher, *others]


async def test_other_members_are_answered_in_time_while_one_searches_for_a_hundred_no(
    discord_emulator: DiscordEmulator, busy_blog: tuple[KijiBot, list[int]]
) -> None:
    emu = discord_emulator
    bot, (searcher, second, third) = busy_blog
    expected_posts = len(await bot.store.all_posts())
    assert expected_posts > EXTRA_POSTS  # the start-up ingest stored every generated post

    search = await emu.slash_command("search", {"query": HOSTILE_QUERY}, user=searcher, locale="en-US")
    answered: list[tuple[str, InteractionHandle]] = []
    rounds = 0
    # Keep other members' commands coming for as long as the search has not been answered (at least one round).
    while rounds == 0 or (search.record.callback is None and rounds < MAX_ROUNDS):
        rounds += 1
        about = await emu.slash_command("about", user=second, locale="en-US")
        latest = await emu.slash_command("latest", {"count": 3}, user=third, locale="en-US")
        for name, handle in (("about", about), ("latest", latest)):
            await handle.response(timeout_s=30)
            answered.append((name, handle))

    found = (await search.response(timeout_s=60))["data"]
    assert found["embeds"][0]["title"].startswith("Search")  # の is in nearly every post: results, not an error
    for name, handle in answered:
        data = handle.record.callback["data"]  # type: ignore[index]
        if name == "about":
            fields = {field["name"]: field["value"] for field in data["embeds"][0]["fields"]}
            assert str(expected_posts) in fields.values()
        else:
            assert NEWEST_TITLE in data["embeds"][0]["description"]
    late = [v for v in emu.violations if "after dispatch" in v.detail]
    assert late == []  # teardown also fails on any other violation
