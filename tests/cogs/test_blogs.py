"""Several blogs in one bot, end to end: the `blog` option, results naming their blog, /about, /subscribe."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from bot_harness import World, add_places, bot_settings, poll_and_deliver, populate, running_bot
from factories import make_blog, write_post

from bot.emulator import DiscordEmulator

READING_COMMANDS = ("summary", "tag", "search", "latest", "random", "subscribe")


def site(root: Path, title: str, url: str) -> Path:
    (root / "_posts").mkdir(parents=True)
    (root / "_config.yml").write_text(f"title: {title}\nurl: {url}\n", encoding="utf-8")
    return root


@pytest_asyncio.fixture
async def blogs(discord_emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[tuple[World, Path]]:
    """The bot serving two Jekyll sites: the usual test blog, and a small one sharing a file name with it."""
    guild, channel, admin, member = populate(discord_emulator)
    channels, role = add_places(discord_emulator, guild)
    first = site(tmp_path / "first", "First Blog", "https://first.example.org")
    make_blog(first / "_posts", tagged_ai=3)
    second = site(tmp_path / "second", "Second Notes", "https://second.example.org")
    write_post(second / "_posts", "2025-06-01-llama4.md", "Notes on Llama", "Second blog body on llamas.", tags="[AI]")
    write_post(second / "_posts", "2025-06-05-boats.md", "Boats and rivers", "A body about boats.", tags="[Boats]")
    db = tmp_path / "kiji.sqlite3"
    settings = bot_settings(discord_emulator, first / "_posts", db, sources=(str(first), str(second)))
    async with running_bot(discord_emulator, settings) as bot:
        world = World(discord_emulator, bot, guild, channel, admin, member, first / "_posts", db, channels, role)
        yield world, second


def option_names(world: World, command: str) -> list[str]:
    found = world.emu.find_command(command, world.guild)
    assert found is not None
    return [option["name"] for option in found.get("options", [])]


async def blog_ids(world: World) -> dict[str, str]:
    choices = await (await world.emu.autocomplete("latest", "blog", {"blog": ""}, locale="en-US")).choices()
    return {choice["name"]: choice["value"] for choice in choices}


async def test_one_blog_has_no_blog_option(world: World) -> None:
    for command in READING_COMMANDS:
        assert "blog" not in option_names(world, command), command


async def test_with_two_blogs_each_reading_command_takes_a_blog(blogs: tuple[World, Path]) -> None:
    world, _ = blogs
    for command in READING_COMMANDS:
        assert "blog" in option_names(world, command), command
    assert await blog_ids(world) == {"First Blog (7)": "1", "Second Notes (2)": "2"}
    narrowed = await (await world.emu.autocomplete("tag", "blog", {"tag": "", "blog": "notes"})).choices()
    assert [c["name"] for c in narrowed] == ["Second Notes (2)"]


async def test_latest_filters_by_blog_and_names_each_posts_blog(blogs: tuple[World, Path]) -> None:
    world, _ = blogs
    ids = await blog_ids(world)
    body = await (await world.emu.slash_command("latest", {"count": 10}, locale="en-US")).response()
    description = body["data"]["embeds"][0]["description"]
    assert "· First Blog" in description and "· Second Notes" in description
    only = await (
        await world.emu.slash_command("latest", {"count": 10, "blog": ids["Second Notes (2)"]}, locale="en-US")
    ).response()
    description = only["data"]["embeds"][0]["description"]
    assert "Boats and rivers" in description and "Notes on Llama" in description
    assert "First Blog" not in description and "Llama 4発表" not in description
    by_title = await (await world.emu.slash_command("random", {"blog": "second notes"}, locale="en-US")).response()
    assert by_title["data"]["embeds"][0]["title"] in {"Boats and rivers", "Notes on Llama"}


async def test_the_same_file_name_in_two_blogs_is_two_posts(blogs: tuple[World, Path]) -> None:
    world, _ = blogs
    same = [p for p in await world.bot.store.all_posts() if p.path == "_posts/2025-06-01-llama4.md"]
    assert sorted((p.title, p.abs_url.split("/")[2]) for p in same) == [
        ("MetaのLlama 4発表", "first.example.org"),
        ("Notes on Llama", "second.example.org"),
    ]
    hits = await (await world.emu.slash_command("search", {"query": "Llama"}, locale="en-US")).message()
    assert "Notes on Llama" in hits["embeds"][0]["description"]
    ids = await blog_ids(world)
    narrowed = await (
        await world.emu.slash_command("search", {"query": "Llama", "blog": ids["First Blog (7)"]}, locale="en-US")
    ).message()
    assert "Notes on Llama" not in narrowed["embeds"][0]["description"]


async def test_summary_autocomplete_follows_the_chosen_blog(blogs: tuple[World, Path]) -> None:
    world, _ = blogs
    ids = await blog_ids(world)
    everywhere = await (await world.emu.autocomplete("summary", "post", {"post": "llama"})).choices()
    assert {c["name"] for c in everywhere} == {"MetaのLlama 4発表", "Notes on Llama"}
    options = {"post": "llama", "blog": ids["Second Notes (2)"]}
    [choice] = await (await world.emu.autocomplete("summary", "post", options)).choices()
    assert choice["name"] == "Notes on Llama"
    body = await (await world.emu.slash_command("summary", {"post": choice["value"]}, locale="en-US")).response()
    fields = {f["name"]: f["value"] for f in body["data"]["embeds"][0]["fields"]}
    assert fields["Blog"] == "Second Notes"


async def test_unknown_blog_lists_the_blogs(blogs: tuple[World, Path]) -> None:
    world, _ = blogs
    body = await (await world.emu.slash_command("tag", {"tag": "AI", "blog": "third"}, locale="en-US")).response()
    assert body["data"]["flags"] & 64
    assert "no blog “third”" in body["data"]["content"] and "First Blog, Second Notes" in body["data"]["content"]


async def test_about_lists_every_blog_with_its_state(blogs: tuple[World, Path]) -> None:
    world, second = blogs
    shutil.move(second, second.with_name("unmounted"))  # the second blog's disk goes away
    await world.bot.sync.sync_now()
    body = await (await world.emu.slash_command("about", locale="en-US")).response()
    fields = {f["name"]: f["value"] for f in body["data"]["embeds"][0]["fields"]}
    assert "https://first.example.org" in fields["First Blog"] and "7 posts" in fields["First Blog"]
    assert "2 posts" in fields["Second Notes"]  # its posts are kept and still served
    assert "does not exist" in fields["Second Notes"] and "⚠" in fields["Second Notes"]
    assert "⚠" not in fields["First Blog"]
    assert fields["Posts"] == "9"


async def test_a_subscription_to_one_blog_announces_only_its_posts(blogs: tuple[World, Path]) -> None:
    world, second = blogs
    ids = await blog_ids(world)
    options = {"channel": world.channel, "blog": ids["Second Notes (2)"]}
    reply = await (await world.emu.slash_command("subscribe", options, user=world.admin, locale="en-US")).response()
    assert "Second Notes" in reply["data"]["content"]
    everything = world.channels["second"]
    await (await world.emu.slash_command("subscribe", {"channel": everything}, user=world.admin)).response()
    write_post(world.posts_dir, "2025-08-01-news.md", "First blog news", "本文です。十分な内容です。", tags="[AI]")
    write_post(second / "_posts", "2025-08-01-news.md", "Second blog news", "A body about news.", tags="[AI]")
    await poll_and_deliver(world.bot)
    [only] = world.emu.sent_messages.get(world.channel, [])
    assert only["embeds"][0]["title"] == "Second blog news"
    fields = {f["name"]: f["value"] for f in only["embeds"][0]["fields"]}
    assert fields["ブログ"] == "Second Notes"  # the server's language (ja)
    titles = sorted(m["embeds"][0]["title"] for m in world.emu.sent_messages.get(everything, []))
    assert titles == ["First blog news", "Second blog news"]
