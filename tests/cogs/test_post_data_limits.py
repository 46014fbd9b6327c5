"""Post data beyond Discord's limits never breaks a reply, a preview or an announcement (issue 14, items 9-10).

The case from the issue: a front-matter `slug:` of 「記事のスラッグ」×32, whose percent-encoded
URL is over 2,048 characters, the most Discord takes for an embed's link (512 for a button's).
Every request the bot sends is validated against Discord's OpenAPI spec by the emulator.
"""

from __future__ import annotations

import pytest
from bot_harness import World, poll_and_deliver
from factories import JA_BODY, write_post

from bot.content import limits

LONG_SLUG = "記事のスラッグ" * 32
LONG_TITLE = "スラッグがとても長い記事"
FILE = "_posts/2025-08-01-long.md"


async def _long_slug_post(world: World, **front: str) -> None:
    front = {"tags": "[AI]", **front}
    write_post(world.posts_dir, "2025-08-01-long.md", LONG_TITLE, JA_BODY, slug=LONG_SLUG, **front)
    await world.bot.sync.sync_now()  # (the bot's file watcher may have stored it already)
    post = await world.bot.store.get_post_by_path(FILE)
    assert post is not None and len(post.abs_url) > limits.EMBED_URL  # Discord would refuse it as a link


async def test_summary_leaves_out_a_link_discord_would_refuse(world: World) -> None:
    await _long_slug_post(world)
    handle = await world.emu.slash_command("summary", {"post": LONG_TITLE}, locale="ja")
    data = (await handle.response())["data"]
    [embed] = data["embeds"]
    assert embed["title"] == LONG_TITLE and "url" not in embed
    assert "推論コスト" in embed["description"]
    assert not data.get("components")  # no link button either (and no empty component list)
    world.emu.assert_no_violations()


async def test_every_field_from_post_data_is_cut_to_discords_limits(world: World) -> None:
    tags = ", ".join(f"tag{i:03d}" + "x" * 20 for i in range(300))
    await _long_slug_post(world, author="著" * 3000, tags=f"[{tags}]", categories="[" + "c" * 5000 + "]")
    handle = await world.emu.slash_command("summary", {"post": LONG_TITLE}, locale="en-US")
    [embed] = (await handle.response())["data"]["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert len(fields["Author"]) <= limits.EMBED_FIELD_VALUE and fields["Author"].endswith(limits.ELLIPSIS)
    shown = fields["Tags"].split(" ")
    assert len(fields["Tags"]) <= limits.EMBED_FIELD_VALUE and shown[-1] == limits.ELLIPSIS
    assert all(tag.startswith("`tag") and tag.endswith("x`") for tag in shown[:-1])  # whole tags only
    world.emu.assert_no_violations()


async def test_lists_show_such_a_post_unlinked_and_the_others_linked(world: World) -> None:
    await _long_slug_post(world)
    handle = await world.emu.slash_command("latest", {"count": 3}, locale="ja")
    [embed] = (await handle.response())["data"]["embeds"]
    first, second, *_ = embed["description"].split("\n\n")
    assert LONG_TITLE in first and "](" not in first
    assert "](https://blog.example.org/" in second
    world.emu.assert_no_violations()


async def test_subscribe_previews_and_announces_such_a_post(world: World) -> None:
    handle = await world.emu.slash_command("subscribe", {"channel": world.channel}, user=world.admin, locale="en-US")
    assert "will be announced" in (await handle.response())["data"]["content"]
    assert world.clock is not None
    world.clock.advance(1.0)  # the post arrives after the subscription: news to it
    await _long_slug_post(world)
    preview = await world.emu.slash_command("subscribe", {"channel": world.channel}, user=world.admin, locale="en-US")
    [embed] = (await preview.response())["data"]["embeds"]  # the preview is the new post
    assert embed["title"] == LONG_TITLE and "url" not in embed
    await poll_and_deliver(world.bot)
    [message] = world.emu.sent_messages[world.channel]
    assert message["embeds"][0]["title"] == LONG_TITLE
    [subscription] = await world.bot.store.subscriptions()
    assert subscription.active  # the post did not pause the channel
    world.emu.assert_no_violations()


async def test_subscribe_whose_reply_discord_refuses_creates_nothing(world: World) -> None:
    world.emu.fail_next("POST", r"/interactions/.*/callback", 400, body={"message": "Invalid Form Body", "code": 50035})
    handle = await world.emu.slash_command("subscribe", {"channel": world.channel}, user=world.admin, locale="en-US")
    data = (await handle.response())["data"]  # the second callback: the error path tells the admin
    assert data["flags"] & 64 and "Something went wrong" in data["content"]
    assert await world.bot.store.subscriptions() == []


@pytest.mark.parametrize(
    ("command", "options", "shown"),
    [
        ("latest", {"count": 2**63}, "from 1 to 10"),
        ("latest", {"count": 0}, "from 1 to 10"),
        ("latest", {"count": -(2**63) - 1}, "from 1 to 10"),
        ("subscribe", {"backfill": 2**63}, "from 0 to 10"),
        ("subscribe", {"backfill": 11}, "from 0 to 10"),
    ],
)
async def test_numbers_beyond_the_declared_range_get_a_clear_message(
    world: World, command: str, options: dict[str, int], shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    if command == "subscribe":
        options = {"channel": world.channel, **options}
    handle = await world.emu.slash_command(command, options, user=world.admin, locale="en-US")
    data = (await handle.response())["data"]
    assert data["flags"] & 64 and "out of range" in data["content"] and shown in data["content"]
    assert await world.bot.store.subscriptions() == []
    assert "OverflowError" not in caplog.text and "failed for user" not in caplog.text


async def test_the_range_is_still_declared_to_discord(world: World) -> None:
    synced = {c["name"]: c for c in world.emu.global_commands.values()}
    count = next(o for o in synced["latest"]["options"] if o["name"] == "count")
    backfill = next(o for o in synced["subscribe"]["options"] if o["name"] == "backfill")
    assert (count["type"], count["min_value"], count["max_value"]) == (4, 1, 10)
    assert (backfill["type"], backfill["min_value"], backfill["max_value"]) == (4, 0, 10)


async def test_numbers_at_the_bounds_are_taken(world: World) -> None:
    handle = await world.emu.slash_command("latest", {"count": 10}, locale="en-US")
    [embed] = (await handle.response())["data"]["embeds"]
    assert embed["description"].count("\n\n") == 9  # ten posts
    backfilled = await world.emu.slash_command(
        "subscribe", {"channel": world.channel, "backfill": 10}, user=world.admin, locale="en-US"
    )
    assert "10" in (await backfilled.response())["data"]["content"]
