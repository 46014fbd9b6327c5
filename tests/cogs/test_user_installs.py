"""Kiji in any chat: the reading commands through a user's own install, in DMs, group DMs and servers without the bot.

A reader installs Kiji to their account and uses it where the bot never was: its own DM, a DM and
a group DM with a friend, a server that never added the bot (one that lets members' apps answer
publicly, one that does not). The subscription commands stay in servers that added the bot.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from bot_harness import World, bot_settings, populate, running_bot
from factories import make_blog
from fake_llm import GOOD_ANSWER, FakeLLM

from bot.emulator import USE_EXTERNAL_APPS, CommandNotOffered, DiscordEmulator
from bot.emulator.records import EPHEMERAL, EVERYONE_DEFAULT

READING = ("summary", "search", "tag", "tags", "latest", "random", "related", "about")
ADMIN = ("subscribe", "unsubscribe", "resume", "subscriptions")


@dataclass
class Places:
    world: World
    reader: int  # installed Kiji to their account
    friend: int  # did not
    bot_dm: int
    dm: int  # reader and friend
    group: int  # reader, friend and a third
    open_server: int  # never added the bot; members may use their apps publicly
    open_channel: int
    strict_server: int  # never added the bot; no Use External Apps for @everyone
    strict_channel: int


@contextlib.asynccontextmanager
async def places_for(emu: DiscordEmulator, tmp_path: Path, **settings: object) -> AsyncIterator[Places]:
    """The usual server and reader, plus the places a user install reaches, then the bot (with `settings`)."""
    guild, channel, admin, member = populate(emu)
    reader, friend, third = emu.add_user("reader"), emu.add_user("friend"), emu.add_user("third")
    emu.install_for_user(reader)
    open_server = emu.add_guild("Elsewhere", with_bot=False, everyone_permissions=EVERYONE_DEFAULT | USE_EXTERNAL_APPS)
    strict_server = emu.add_guild("Strict", with_bot=False, everyone_permissions=EVERYONE_DEFAULT)
    for server in (open_server, strict_server):
        emu.add_member(server, reader, "reader")
        emu.add_member(server, friend, "friend")
    found = Places(
        world=None,  # type: ignore[arg-type]  # set once the bot runs
        reader=reader,
        friend=friend,
        bot_dm=emu.add_dm(reader),
        dm=emu.add_dm(reader, friend),
        group=emu.add_group_dm([reader, friend, third], "readers"),
        open_server=open_server,
        open_channel=emu.add_channel(open_server, "chat"),
        strict_server=strict_server,
        strict_channel=emu.add_channel(strict_server, "chat"),
    )
    posts_dir, db_path = make_blog(tmp_path / "posts"), tmp_path / "kiji.sqlite3"
    async with running_bot(emu, bot_settings(emu, posts_dir, db_path, **settings)) as bot:
        found.world = World(emu, bot, guild, channel, admin, member, posts_dir, db_path, {}, 0)
        yield found


@pytest_asyncio.fixture
async def places(discord_emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[Places]:
    async with places_for(discord_emulator, tmp_path) as found:
        yield found


@pytest_asyncio.fixture
async def places_with_a_model(discord_emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[Places]:
    """With a language model configured, /summary defers ("Kiji is thinking…") before it answers."""
    fake = FakeLLM()
    await fake.start()
    try:
        async with places_for(
            discord_emulator, tmp_path, llm_base_url=fake.base_url, llm_model="tiny-model", llm_timeout=60.0
        ) as found:
            yield found
    finally:
        await fake.stop()


def embed_of(data: dict) -> dict:
    [embed] = data["embeds"]
    return embed


# Each reading command with options a reader would give, and what its answer must show.
CHECKS: dict[str, tuple[dict, Callable[[dict], bool]]] = {
    "summary": ({"post": "What RAG is for"}, lambda e: e["title"] == "What RAG is for"),
    "search": ({"query": "retriev"}, lambda e: "What RAG is for" in e["description"]),
    "tag": ({"tag": "rag"}, lambda e: e["title"] == "Tag: RAG" and "What RAG is for" in e["description"]),
    "tags": ({}, lambda e: "`AI` — 25" in e["description"]),
    "latest": ({"count": 3}, lambda e: "What RAG is for" in e["description"]),
    "random": ({"tag": "RAG"}, lambda e: e["title"] == "What RAG is for"),
    "related": ({"post": "MetaのLlama 4発表"}, lambda e: "Llama 4発表](" not in e["description"]),
    "about": ({}, lambda e: {f["name"]: f["value"] for f in e["fields"]}["Posts"] == "27"),
}


def place_of(places: Places, where: str) -> dict:
    return {
        "bot DM": {"channel_id": places.bot_dm},
        "DM": {"channel_id": places.dm},
        "group DM": {"channel_id": places.group},
        "server without the bot": {"guild_id": places.open_server, "channel_id": places.open_channel},
    }[where]


@pytest.mark.parametrize(
    ("where", "context", "owners"),
    [
        ("bot DM", 1, {"0", "1"}),
        ("DM", 2, {"1"}),
        ("group DM", 2, {"1"}),
        ("server without the bot", 0, {"1"}),
    ],
)
async def test_every_reading_command_answers_through_a_user_install(
    places: Places, where: str, context: int, owners: set[str]
) -> None:
    emu = places.world.emu
    before = len(emu.requests)
    for name in READING:
        options, shows = CHECKS[name]
        handle = await emu.slash_command(name, options, user=places.reader, locale="en-US", **place_of(places, where))
        assert handle.payload["context"] == context
        assert set(handle.payload["authorizing_integration_owners"]) == owners
        body = await handle.response()
        assert body["type"] == 4, (name, body)
        assert shows(embed_of(body["data"])), (name, body["data"])
        assert not (body["data"].get("flags") or 0) & EPHEMERAL, f"/{name} answered privately in a {where}"
    # Only the interaction's own webhook: the bot has no channel of its own to post in there.
    assert not [r.path for r in emu.requests[before:] if r.path.startswith("/channels/")]


async def test_autocomplete_works_in_a_group_dm(places: Places) -> None:
    emu = places.world.emu
    handle = await emu.autocomplete("summary", "post", {"post": "llama"}, user=places.reader, channel_id=places.group)
    assert [c["name"] for c in await handle.choices()] == ["MetaのLlama 4発表"]


async def test_pages_turn_in_a_group_dm_for_the_asker_only(places: Places) -> None:
    emu = places.world.emu
    handle = await emu.slash_command("tag", {"tag": "ai"}, user=places.reader, channel_id=places.group, locale="en-US")
    first = await handle.message()
    assert embed_of(first)["footer"]["text"] == "Page 1/3"
    [next_page] = [c for row in first["components"] for c in row["components"] if c["label"] == "▶"]

    stranger = await emu.click_button(first, next_page["custom_id"], user=places.friend, locale="en-US")
    refusal = (await stranger.response())["data"]
    assert refusal["flags"] & EPHEMERAL and "Only the person" in refusal["content"]

    click = await emu.click_button(first, next_page["custom_id"], user=places.reader, locale="en-US")
    assert click.payload["context"] == 2 and click.payload["authorizing_integration_owners"] == {
        "1": str(places.reader)
    }
    turned = await click.response()
    assert turned["type"] == 7 and embed_of(turned["data"])["footer"]["text"] == "Page 2/3"


async def test_a_server_without_use_external_apps_gets_private_answers_that_still_page(places: Places) -> None:
    emu = places.world.emu
    where = {"guild_id": places.strict_server, "channel_id": places.strict_channel, "user": places.reader}
    handle = await emu.slash_command("summary", {"post": "What RAG is for"}, locale="en-US", **where)
    summary = await handle.response()
    # The bot asks for it itself: what it sends is what Discord will show.
    assert summary["data"]["flags"] & EPHEMERAL
    assert embed_of(summary["data"])["title"] == "What RAG is for"

    handle = await emu.slash_command("tag", {"tag": "ai"}, locale="en-US", **where)
    first = await handle.message()
    assert first["flags"] & EPHEMERAL and (await handle.response())["data"]["flags"] & EPHEMERAL
    [next_page] = [c for row in first["components"] for c in row["components"] if c["label"] == "▶"]
    click = await emu.click_button(first, next_page["custom_id"], user=places.reader, locale="en-US")
    turned = await click.response()
    assert turned["type"] == 7 and embed_of(turned["data"])["footer"]["text"] == "Page 2/3"


async def test_a_deferred_answer_is_private_from_the_start_where_it_must_be(places_with_a_model: Places) -> None:
    emu, places = places_with_a_model.world.emu, places_with_a_model
    strict = {"guild_id": places.strict_server, "channel_id": places.strict_channel, "user": places.reader}
    handle = await emu.slash_command("summary", {"post": "MetaのLlama 4発表"}, locale="en-US", **strict)
    deferred = await handle.response()
    assert deferred["type"] == 5 and deferred["data"]["flags"] & EPHEMERAL  # asked for by the bot
    message = await handle.message(edits=1)
    assert message["flags"] & EPHEMERAL and embed_of(message)["description"] == GOOD_ANSWER

    public = {"guild_id": places.open_server, "channel_id": places.open_channel, "user": places.reader}
    handle = await emu.slash_command("summary", {"post": "MetaのLlama 4発表"}, locale="en-US", **public)
    assert not ((await handle.response()).get("data") or {}).get("flags")
    assert not (await handle.message(edits=1))["flags"] & EPHEMERAL


async def test_in_a_server_that_added_the_bot_answers_stay_public(places: Places) -> None:
    world = places.world
    body = await (await world.emu.slash_command("summary", {"post": "What RAG is for"}, user=world.member)).response()
    assert not (body["data"].get("flags") or 0) & EPHEMERAL
    assert body["data"]["embeds"][0]["title"] == "What RAG is for"


@pytest.mark.parametrize("where", ["bot DM", "DM", "group DM", "server without the bot"])
@pytest.mark.parametrize("name", ADMIN)
async def test_subscription_commands_are_not_offered_outside_servers_that_added_the_bot(
    places: Places, where: str, name: str
) -> None:
    with pytest.raises(CommandNotOffered):
        await places.world.emu.slash_command(name, {}, user=places.reader, **place_of(places, where))


async def test_subscription_commands_still_work_in_a_server_that_added_the_bot(places: Places) -> None:
    world = places.world
    body = await (await world.emu.slash_command("subscriptions", user=world.admin, locale="en-US")).response()
    assert body["type"] == 4 and body["data"]["flags"] & EPHEMERAL  # the admin's list, as before


async def test_synced_commands_say_where_each_may_be_installed_and_used(places: Places) -> None:
    synced = {c["name"]: c for c in places.world.emu.global_commands.values()}
    assert set(READING) | set(ADMIN) <= set(synced)
    for name in READING:
        assert (synced[name]["integration_types"], synced[name]["contexts"]) == ([0, 1], [0, 1, 2]), name
    for name in ADMIN:
        assert (synced[name]["integration_types"], synced[name]["contexts"]) == ([0], [0]), name
        assert int(synced[name]["default_member_permissions"]) == 1 << 5  # Manage Server
    # What the bot sent is what Discord's spec accepts, and the spec does check these fields.
    emu = places.world.emu
    [sync] = [r for r in emu.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert sync.problems == [] and all("contexts" in c and "integration_types" in c for c in sync.body)
    assert emu.validator is not None
    wrong = [dict(sync.body[0], contexts=[3]), dict(sync.body[0], integration_types=[])]
    problems = " ".join(emu.validator.validate("PUT", sync.path, wrong))
    assert "$[0].contexts[0]" in problems and "$[1].integration_types" in problems
    # Every other command the bot has (now or later) is a server command unless it opts in.
    for name in set(synced) - set(READING):
        assert synced[name]["integration_types"] == [0] and synced[name]["contexts"] == [0], name
