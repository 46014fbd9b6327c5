"""Smoke tests of the Discord emulator, driving a tiny discord.py bot defined here."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
import pytest_asyncio
import yarl
from discord import app_commands

from bot.emulator import (
    MANAGE_GUILD,
    DiscordEmulator,
    InteractionRecord,
    SpecUnavailable,
    check_autocomplete_choices,
    check_message_limits,
    load_spec_validator,
)


class PagerView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="Next", custom_id="next", style=discord.ButtonStyle.primary)
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button[PagerView]) -> None:
        await interaction.response.edit_message(content="page 2", view=self)


class SmokeBot(discord.Client):
    def __init__(self, post_channel_id: int, forum_id: int) -> None:
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before on_ready (default 2 s).
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.post_channel_id = post_channel_id
        self.forum_id = forum_id
        self.synced: list[app_commands.AppCommand] = []
        tree = self.tree

        @tree.command(name="article", description="Find an article")
        @app_commands.describe(query="Words to search for")
        async def article(interaction: discord.Interaction, query: str) -> None:
            embed = discord.Embed(title=f"Result for {query}", description="An article body")
            embed.add_field(name="Tags", value="rust, async")
            locale = str(interaction.locale)
            await interaction.response.send_message(f"found: {query} ({locale})", embed=embed, view=PagerView())

        @article.autocomplete("query")
        async def article_autocomplete(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=f"{current} {i}", value=f"{current}-{i}") for i in range(3)]

        @tree.command(name="slow", description="Defers, then edits and follows up")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content="done thinking")
            await interaction.followup.send("a follow-up", ephemeral=True)

        @tree.command(name="long", description="Sends too much text")
        async def long(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("x" * 2500)

        @tree.command(name="post", description="Posts to the post channel")
        async def post(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.defer()
            channel = self.get_channel(self.post_channel_id)
            assert isinstance(channel, discord.TextChannel)
            sent = await channel.send(text)
            await interaction.edit_original_response(content=f"posted {sent.id}")

        @tree.command(name="publish", description="Opens a forum post with an attachment")
        async def publish(interaction: discord.Interaction, title: str) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            forum = self.get_channel(self.forum_id)
            assert isinstance(forum, discord.ForumChannel)
            created = await forum.create_thread(
                name=title,
                content="article body",
                embed=discord.Embed(title=title),
                applied_tags=[forum.available_tags[0]],
                file=discord.File(io.BytesIO(b"hello"), "article.txt"),
            )
            await interaction.followup.send(f"thread {created.thread.id}", ephemeral=True)

    async def setup_hook(self) -> None:
        self.synced = await self.tree.sync()


@dataclass
class World:
    emu: DiscordEmulator
    bot: SmokeBot
    guild: int
    channel: int
    posts: int
    forum: int
    admin: int
    reader: int


async def _gateway_from_api(emu: DiscordEmulator) -> str:
    """What the real bot does: ask GET /gateway/bot at the API base for the websocket URL."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{discord.http.Route.BASE}/gateway/bot", headers={"Authorization": f"Bot {emu.token}"}) as r,
    ):
        return (await r.json())["url"]


@contextlib.asynccontextmanager
async def running(emu: DiscordEmulator, client: discord.Client) -> AsyncIterator[None]:
    old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(await _gateway_from_api(emu))
    task = asyncio.create_task(client.start(emu.token))
    try:
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task.done():
                task.result()  # re-raise the start error
            raise TimeoutError("bot did not become ready")
        await emu.wait_until_ready()
        yield
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@pytest_asyncio.fixture
async def world(discord_emulator: DiscordEmulator) -> AsyncIterator[World]:
    emu = discord_emulator
    guild = emu.add_guild("Kiji test guild")
    channel = emu.add_channel(guild, "general")
    posts = emu.add_channel(guild, "posts", 5)
    forum = emu.add_channel(guild, "forum", 15, available_tags=["news"])
    admin = emu.add_member(guild, name="admin", permissions=MANAGE_GUILD)
    reader = emu.add_member(guild, name="reader")
    bot = SmokeBot(posts, forum)
    async with running(emu, bot):
        yield World(emu, bot, guild, channel, posts, forum, admin, reader)


async def test_login_ready_and_command_sync(world: World) -> None:
    emu, bot = world.emu, world.bot
    assert bot.user is not None and bot.user.id == emu.application_id
    guild = bot.get_guild(world.guild)
    assert guild is not None and guild.me is not None
    assert guild.get_channel(world.channel) is not None
    assert guild.member_count == 4  # owner, bot, admin, reader (others are not cached without the members intent)
    assert guild.me.guild_permissions.send_messages and not guild.me.guild_permissions.administrator
    assert {c["name"] for c in emu.global_commands.values()} == {"article", "slow", "long", "post", "publish"}
    assert {c.name for c in bot.synced} == {"article", "slow", "long", "post", "publish"}
    assert emu.identify_count == 1 and emu.gateway_paths == ["/gateway"]


async def test_slash_command_response_and_button(world: World) -> None:
    emu = world.emu
    handle = await emu.slash_command("article", {"query": "rust"}, user=world.reader, locale="ja")
    assert handle.payload["data"]["id"] == emu.find_command("article")["id"]  # type: ignore[index]
    body = await handle.response()
    assert body["type"] == 4
    assert body["data"]["content"] == "found: rust (ja)"
    assert body["data"]["embeds"][0]["title"] == "Result for rust"
    assert body["data"]["embeds"][0]["fields"] == [{"name": "Tags", "value": "rust, async", "inline": True}]
    message = await handle.message()
    assert message["components"][0]["components"][0]["custom_id"] == "next"

    click = await emu.click_button(message, "next", user=world.admin)
    body = await click.response()
    assert body["type"] == 7
    assert body["data"]["content"] == "page 2"
    assert emu.messages_by_id[int(message["id"])]["content"] == "page 2"


async def test_autocomplete_choices(world: World) -> None:
    handle = await world.emu.autocomplete("article", focused_option="query", options={"query": "ru"})
    assert handle.payload["data"]["options"] == [{"name": "query", "type": 3, "value": "ru", "focused": True}]
    assert await handle.choices() == [{"name": f"ru {i}", "value": f"ru-{i}"} for i in range(3)]


async def test_deferred_edit_and_followup(world: World) -> None:
    handle = await world.emu.slash_command("slow")
    assert (await handle.response())["type"] == 5
    assert (await handle.message())["content"] == "done thinking"
    [followup] = await handle.followups(1)
    assert followup["content"] == "a follow-up"
    assert followup["flags"] & 64


async def test_channel_post_retries_after_injected_429(world: World) -> None:
    emu = world.emu
    emu.fail_next("POST", r"^/channels/\d+/messages$", 429, retry_after=0.01)
    handle = await emu.slash_command("post", {"text": "hello"})
    final = await handle.message()
    [sent] = emu.sent_messages[world.posts]
    assert sent["content"] == "hello"
    assert final["content"] == f"posted {sent['id']}"
    assert emu.rate_limited_count == 1


async def test_forum_post_with_attachment(world: World) -> None:
    emu = world.emu
    handle = await emu.slash_command("publish", {"title": "New article"}, user=world.admin)
    assert (await handle.response()) == {"type": 5, "data": {"flags": 64}}
    [followup] = await handle.followups(1)
    thread_id = int(followup["content"].removeprefix("thread "))
    thread = emu.channels[thread_id]
    assert thread["parent_id"] == str(world.forum) and thread["name"] == "New article"
    assert thread["applied_tags"] == [emu.channels[world.forum]["available_tags"][0]["id"]]
    [starter] = emu.sent_messages[thread_id]
    assert starter["content"] == "article body" and starter["embeds"][0]["title"] == "New article"
    assert [(a["filename"], a["size"]) for a in starter["attachments"]] == [("article.txt", 5)]


async def test_too_long_content_is_a_violation(world: World) -> None:
    emu = world.emu
    handle = await emu.slash_command("long")
    await emu.wait_for(lambda: any("2500 characters" in str(v) for v in emu.violations), 5, "the violation")
    assert handle.record.callback is None  # rejected with 400 like Discord does
    taken = emu.take_violations()
    assert any("message content is 2500 characters (limit 2000)" in str(v) for v in taken), taken


async def test_late_initial_response_is_rejected(world: World) -> None:
    emu = world.emu
    emu.interaction_deadline = 0.0  # every callback is now late
    handle = await emu.slash_command("article", {"query": "late"})
    await emu.wait_for(lambda: bool(emu.violations), 5, "the late-callback violation")
    assert handle.record.callback is None
    [violation] = emu.take_violations()
    assert "Unknown interaction" in violation.kind and "after dispatch" in violation.detail


async def test_resume_after_dropped_connection(world: World) -> None:
    emu = world.emu
    await emu.drop_connection()
    # Dispatched while the bot is disconnected: buffered and replayed on RESUME.
    handle = await emu.slash_command("article", {"query": "resumed"})
    await emu.wait_until_resumed()
    assert (await handle.response())["data"]["content"] == "found: resumed (ja)"
    assert emu.identify_count == 1
    assert emu.gateway_paths == ["/gateway", "/resume-gateway"]


async def test_raw_protocol_rules(discord_emulator: DiscordEmulator) -> None:
    """Unknown routes, auth, nonce deduplication, 403 injection, double acknowledgement, without a bot."""
    emu = discord_emulator
    guild = emu.add_guild()
    channel = emu.add_channel(guild, "general")
    auth = {"Authorization": f"Bot {emu.token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{emu.api_base}/no/such/route") as r:
            assert r.status == 404 and (await r.json()) == {"message": "404: Not Found", "code": 0}
        async with http.get(f"{emu.api_base}/users/@me", headers={"Authorization": "Bot wrong"}) as r:
            assert r.status == 401
        kinds = [v.kind for v in emu.take_violations()]
        assert kinds == ["unknown route", "401: Unauthorized"]

        post = {"content": "hi", "nonce": "1234567", "enforce_nonce": True}
        async with http.post(f"{emu.api_base}/channels/{channel}/messages", json=post) as r:
            first = await r.json()
        async with http.post(f"{emu.api_base}/channels/{channel}/messages", json=post) as r:
            second = await r.json()
        assert first["id"] == second["id"] and len(emu.sent_messages[channel]) == 1

        emu.fail_next("*", r"/messages$", 403)
        async with http.post(f"{emu.api_base}/channels/{channel}/messages", json={"content": "x"}) as r:
            assert r.status == 403 and (await r.json())["code"] == 50013

        emu.global_rate_limit = 1
        async with http.get(f"{emu.api_base}/users/@me") as r:
            assert r.status == 200
        async with http.get(f"{emu.api_base}/users/@me") as r:
            assert r.status == 429 and r.headers["X-RateLimit-Global"] == "true" and r.headers["Via"]
            assert (await r.json())["global"] is True
        assert emu.rate_limited_count == 1
        emu.global_rate_limit = None

        # A fake interaction record to exercise callbacks without a gateway.
        payload = emu.interaction_base(2, guild, channel, None, "en-US")
        emu.interactions[int(payload["id"])] = record = emu_record(emu, payload)
        url = f"{emu.api_base}/interactions/{record.id}/{record.token}/callback"
        async with http.post(url, json={"type": 4, "data": {"content": "ok"}}) as r:
            assert r.status == 204
        async with http.post(url, json={"type": 4, "data": {"content": "again"}}) as r:
            assert r.status == 400 and (await r.json())["code"] == 40060
        [violation] = emu.take_violations()
        assert "already been acknowledged" in violation.kind


def emu_record(emu: DiscordEmulator, payload: dict):  # type: ignore[no-untyped-def]
    record = InteractionRecord(int(payload["id"]), payload["token"], 2, payload, int(payload["channel_id"]))
    record.dispatched_at = asyncio.get_running_loop().time()
    emu.world.interactions_by_token[record.token] = record
    return record


def test_fixture_check_lists_violations() -> None:
    emu = DiscordEmulator()
    emu.assert_no_violations()
    emu.violation("invalid body", "message content is 2001 characters (limit 2000)", "POST", "/channels/1/messages")
    with pytest.raises(AssertionError, match=r"1 time\(s\):\n  1\. invalid body \[POST /channels/1/messages\]"):
        emu.assert_no_violations()


def test_a_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecUnavailable, match=r"openapi\.json is absent: checking Discord's limits only"):
        load_spec_validator(tmp_path / "openapi.json")


def test_validator_reports_limits_and_spec_errors(openapi_spec_path: Path) -> None:
    validator = load_spec_validator(openapi_spec_path)
    problems = validator.validate("POST", "/api/v10/channels/1/messages", {"content": "x" * 2001})
    assert problems == ["POST /channels/1/messages: message content is 2001 characters (limit 2000)"]
    assert validator.validate("POST", "/channels/1/messages", {"content": "ok", "nonce": "123", "tts": False}) == []
    [spec_error] = validator.validate("POST", "/channels/1/messages", {"content": 5})
    assert "spec violation at $.content" in spec_error
    assert (
        validator.validate(
            "PUT",
            "/applications/1/commands",
            [
                {
                    "name": "f",
                    "description": "d",
                    "type": 1,
                    "options": [{"type": 7, "name": "c", "description": "d", "channel_types": [15, 16]}],
                }
            ],
        )
        == []
    )
    embed = {"title": "t" * 257, "description": "d" * 4096, "fields": [{"name": "n", "value": "v" * 1025}] * 26}
    found = check_message_limits({"embeds": [embed]})
    assert any("title is 257" in p for p in found)
    assert any("26 fields" in p for p in found)
    assert any("fields[0].value is 1025" in p for p in found)
    assert any("embeds total" in p for p in found)
    assert check_message_limits({"content": "x" * 2000, "embeds": [{"title": "t"}]}) == []
    assert check_autocomplete_choices([{"name": "a" * 101, "value": "v"}] + [{"name": "b", "value": "b"}] * 25) == [
        "autocomplete returned 26 choices (limit 25)",
        f"choices[0].name must be 1-100 characters: {'a' * 101!r}",
    ]


@pytest.mark.parametrize("status", [403, 404, 500])
async def test_fail_next_statuses(discord_emulator: DiscordEmulator, status: int) -> None:
    emu = discord_emulator
    emu.fail_next("GET", r"^/users/@me$", status, count=2)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as http:
        for expected in (status, status, 200):
            async with http.get(f"{emu.api_base}/users/@me") as r:
                assert r.status == expected
