"""/subscribe's `delivery`, `thread`, `thread_name` and `forum_tag` end to end on the emulated Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from bot_harness import World, bot_settings, poll_and_deliver, running_bot
from factories import JA_BODY, write_post

from bot.clock import ManualClock
from bot.emulator import DiscordEmulator
from bot.emulator.records import (
    ANNOUNCEMENT,
    ANNOUNCEMENT_THREAD,
    BOT_DEFAULT,
    CREATE_PUBLIC_THREADS,
    FORUM,
    MANAGE_GUILD,
    MANAGE_WEBHOOKS,
    PUBLIC_THREAD,
    REQUIRE_TAG,
)

BLOG_TITLE = "Tech Notes"


def make_site(root: Path) -> Path:
    """A Jekyll site with a title and a logo, and one old post."""
    (root / "_posts").mkdir(parents=True)
    (root / "_config.yml").write_text(
        f"title: {BLOG_TITLE}\nurl: https://blog.example.org\nlogo: /assets/logo.png\ntimezone: Asia/Tokyo\n",
        encoding="utf-8",
    )
    write_post(root / "_posts", "2025-06-01-old.md", "古い記事", JA_BODY, tags="[AI]")
    return root


@pytest_asyncio.fixture
async def blog(discord_emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[World]:
    """A server whose admins gave Kiji Manage Webhooks, with text, announcement and forum channels."""
    emu = discord_emulator
    guild = emu.add_guild("Blog server", locale="en-US", bot_permissions=BOT_DEFAULT | MANAGE_WEBHOOKS)
    channel = emu.add_channel(guild, "news")
    admin = emu.add_member(guild, name="admin", permissions=MANAGE_GUILD)
    member = emu.add_member(guild, name="reader")
    no_threads = [{"id": guild, "type": 0, "deny": CREATE_PUBLIC_THREADS}]
    channels = {
        "announcements": emu.add_channel(guild, "announcements", ANNOUNCEMENT),
        "forum": emu.add_channel(guild, "forum", FORUM, available_tags=["ai", "guides", "misc"]),
        "strict": emu.add_channel(guild, "strict", FORUM, available_tags=["ai", "misc"], flags=REQUIRE_TAG),
        "no-threads": emu.add_channel(guild, "no-threads", permission_overwrites=no_threads),
    }
    site = make_site(tmp_path / "site")
    clock = ManualClock()
    db_path = tmp_path / "kiji.sqlite3"
    settings = bot_settings(emu, site / "_posts", db_path, site_dir=site)
    async with running_bot(emu, settings, clock=clock) as bot:
        yield World(emu, bot, guild, channel, admin, member, site / "_posts", db_path, channels, 0, clock)


async def subscribe(world: World, channel: int, **options: object) -> str:
    handle = await world.emu.slash_command(
        "subscribe", {"channel": channel, **options}, user=world.admin, locale="en-US"
    )
    return str((await handle.response())["data"].get("content", ""))


def new_post(world: World, slug: str, title: str, **front: str) -> None:
    assert world.clock is not None
    world.clock.advance(0.01)
    write_post(world.posts_dir, f"2025-07-01-{slug}.md", title, "新しい記事の本文です。内容は十分にあります。", **front)


def sent(world: World, channel: int) -> list[dict]:
    return world.emu.sent_messages.get(channel, [])


async def test_webhook_delivery_sends_as_the_blog_with_its_name_and_icon_and_stores_no_token(blog: World) -> None:
    reply = await subscribe(blog, blog.channel, delivery="webhook")
    assert "will be announced" in reply and "blog's name and icon" in reply, reply
    [webhook] = [w for w in blog.emu.webhooks.values() if w["channel_id"] == str(blog.channel)]
    assert webhook["user"]["id"] == str(blog.emu.application_id) and webhook["name"] == "Kiji"
    [stored] = await blog.bot.store.subscriptions()
    assert (stored.delivery, stored.webhook_id) == ("webhook", int(webhook["id"]))

    new_post(blog, "hooked", "Webhookの記事", tags="[AI]")
    await poll_and_deliver(blog.bot)
    [message] = sent(blog, blog.channel)
    assert message["webhook_id"] == webhook["id"] and "nonce" not in message
    assert message["author"]["username"] == BLOG_TITLE
    assert message["embeds"][0]["title"] == "Webhookの記事"
    execution = blog.emu.routes.webhooks.executions[int(message["id"])]
    assert execution == {"username": BLOG_TITLE, "avatar_url": "https://blog.example.org/assets/logo.png"}
    [delivery] = await blog.bot.store.deliveries()
    assert (delivery.state, delivery.message_id) == ("sent", int(message["id"]))
    # No request looked for an earlier copy: a delivery queued by this process and never tried cannot have one.
    assert not [r for r in blog.emu.requests if r.method == "GET" and r.path.endswith("/messages")]
    for path in blog.db_path.parent.glob("kiji.sqlite3*"):
        assert webhook["token"].encode() not in path.read_bytes(), path
    blog.emu.assert_no_violations()


async def test_a_deleted_webhook_is_replaced_and_the_post_still_goes_out_once(blog: World) -> None:
    await subscribe(blog, blog.channel, delivery="webhook", layout="card")
    new_post(blog, "first", "最初の記事")
    await poll_and_deliver(blog.bot)
    [old_id] = [w for w in blog.emu.webhooks if blog.emu.webhooks[w]["channel_id"] == str(blog.channel)]
    blog.emu.remove_webhook(old_id)  # an admin removed it in the channel's settings

    new_post(blog, "second", "二番目の記事")
    await poll_and_deliver(blog.bot)
    [new_id] = [w for w in blog.emu.webhooks if blog.emu.webhooks[w]["channel_id"] == str(blog.channel)]
    first, second = sent(blog, blog.channel)
    assert (first["webhook_id"], second["webhook_id"]) == (str(old_id), str(new_id))
    assert second["flags"] & (1 << 15)  # the card layout, through the webhook
    [stored] = await blog.bot.store.subscriptions()
    assert stored.webhook_id == new_id


async def test_webhook_delivery_asks_for_manage_webhooks_only_when_chosen(world: World) -> None:
    # The default invite has no Manage Webhooks: the bot delivery works, the webhook one says what is missing.
    reply = await subscribe(world, world.channel, delivery="webhook")
    assert "Manage Webhooks" in reply and "delivery: Kiji" in reply, reply
    assert await world.bot.store.subscriptions() == [] and not world.emu.webhooks
    reply = await subscribe(world, world.channel)
    assert "will be announced" in reply and "Manage Webhooks" not in reply
    reply = await subscribe(world, world.channels["forum"], delivery="webhook")
    assert "text and announcement channels" in reply


async def test_a_thread_is_opened_on_each_announcement_named_by_its_template(blog: World) -> None:
    await subscribe(blog, blog.channel, thread=True, thread_name="💬 {title} ({tags})")
    await subscribe(blog, blog.channels["announcements"], thread=True, delivery="webhook")
    long_title = "とても長いタイトル" * 20
    new_post(blog, "threaded", long_title, tags="[AI, LLM]")
    await poll_and_deliver(blog.bot)
    [message] = sent(blog, blog.channel)
    thread = blog.emu.channels[int(message["id"])]  # a thread on a message has the message's id
    assert thread["type"] == PUBLIC_THREAD and thread["parent_id"] == str(blog.channel)
    assert len(thread["name"]) == 100 and thread["name"].startswith("💬 とても長いタイトル")
    [announced] = sent(blog, blog.channels["announcements"])
    news_thread = blog.emu.channels[int(announced["id"])]
    assert news_thread["type"] == ANNOUNCEMENT_THREAD and news_thread["name"] == long_title[:99] + "…"
    blog.emu.assert_no_violations()


async def test_threads_need_create_public_threads_and_a_bad_name_template_is_refused(blog: World) -> None:
    reply = await subscribe(blog, blog.channels["no-threads"], thread=True)
    assert "Create Public Threads" in reply, reply
    reply = await subscribe(blog, blog.channel, thread=True, thread_name="{title.__class__}")
    assert "nothing was changed" in reply, reply
    assert await blog.bot.store.subscriptions() == []


async def test_forum_posts_get_the_forum_tags_named_like_the_posts_tags_and_categories(blog: World) -> None:
    forum = blog.channels["forum"]
    await subscribe(blog, forum)
    new_post(blog, "tagged", "タグの記事", tags="[ＡＩ, LLM]", categories="[Guides]")
    await poll_and_deliver(blog.bot)
    [thread] = [c for c in blog.emu.channels.values() if c.get("parent_id") == str(forum)]
    ids = {t["name"]: t["id"] for t in blog.emu.channels[forum]["available_tags"]}
    assert sorted(thread["applied_tags"]) == sorted([ids["ai"], ids["guides"]])  # NFKC + casefold


async def test_a_forum_that_requires_a_tag_needs_a_default_or_filters_that_are_its_tags(blog: World) -> None:
    strict = blog.channels["strict"]
    reply = await subscribe(blog, strict)
    assert "requires a tag" in reply and "ai, misc" in reply, reply
    reply = await subscribe(blog, strict, tags="AI LLM")  # LLM is no tag of the forum: a post may match none
    assert "requires a tag" in reply, reply
    reply = await subscribe(blog, strict, forum_tag="nonsense")
    assert "no tag “nonsense”" in reply, reply
    assert await blog.bot.store.subscriptions() == []

    handle = await blog.emu.autocomplete(
        "subscribe", "forum_tag", {"channel": strict, "forum_tag": "mi"}, user=blog.admin, locale="en-US"
    )
    [choice] = (await handle.response())["data"]["choices"]
    misc = next(t["id"] for t in blog.emu.channels[strict]["available_tags"] if t["name"] == "misc")
    assert choice == {"name": "misc", "value": misc}
    reply = await subscribe(blog, strict, forum_tag=misc)
    assert "will be announced" in reply, reply

    new_post(blog, "untagged", "タグなしの記事", tags="[Cooking]")
    new_post(blog, "ai", "AIの記事", tags="[AI]")
    await poll_and_deliver(blog.bot)
    threads = {c["name"]: c["applied_tags"] for c in blog.emu.channels.values() if c.get("parent_id") == str(strict)}
    ai = next(t["id"] for t in blog.emu.channels[strict]["available_tags"] if t["name"] == "ai")
    assert threads == {"タグなしの記事": [misc], "AIの記事": [ai]}
    [stored] = await blog.bot.store.subscriptions()
    assert stored.active
    blog.emu.assert_no_violations()


async def test_a_forum_that_requires_a_tag_takes_filters_that_are_all_its_tags(blog: World) -> None:
    reply = await subscribe(blog, blog.channels["strict"], tags="ＡＩ")
    assert "will be announced" in reply, reply
