"""Announcements end to end: subscriptions through slash commands, delivery through the loopback Discord."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from bot_harness import World, poll_and_deliver
from factories import write_post

from bot.clock import ManualClock
from bot.content import limits
from bot.discord.announcer import RETRY_BASE_SECONDS, Announcer, describe_pause
from bot.emulator import SEND_MESSAGES


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """The announcements here run on a SQLite file and on a PostgreSQL database."""
    return both_backends


def announcer(world: World) -> Announcer:
    return world.bot.announcer


async def check(world: World) -> None:
    await poll_and_deliver(world.bot)


def messages(world: World, channel: int) -> list[dict]:
    return world.emu.sent_messages.get(channel, [])


async def update_channel(world: World, channel: int, overwrites: list[dict]) -> None:
    """Change a channel's permission overwrites and wait until the bot has seen the update."""
    seen = asyncio.ensure_future(
        world.bot.wait_for("guild_channel_update", check=lambda before, after: after.id == channel, timeout=10)
    )
    world.emu.set_overwrites(channel, overwrites)
    await world.emu.dispatch("CHANNEL_UPDATE", world.emu.channels[channel])
    await seen


async def subscribe(world: World, channel: int, **options: object) -> dict:
    handle = await world.emu.slash_command(
        "subscribe", {"channel": channel, **options}, user=world.admin, locale="en-US"
    )
    return (await handle.response())["data"]


def new_post(world: World, slug: str, title: str, tags: str = "[AI]", date: str | None = None) -> None:
    """A post written just after whatever happened before (the bot's clock moves on, a little)."""
    clock(world).advance(0.01)
    front = {"tags": tags}
    if date:
        front["date"] = date
    write_post(world.posts_dir, f"2025-07-01-{slug}.md", title, "新しい記事の本文です。内容は十分にあります。", **front)


async def test_plain_member_cannot_subscribe(world: World) -> None:
    handle = await world.emu.slash_command("subscribe", {"channel": world.channel}, user=world.member, locale="en-US")
    data = (await handle.response())["data"]
    assert data["flags"] & 64 and "Manage Server" in data["content"]
    assert await world.bot.store.subscriptions() == []


async def test_first_subscription_posts_nothing_old_then_each_new_post_once(world: World) -> None:
    other, quiet = world.channels["second"], world.channels["third"]
    data = await subscribe(world, world.channel)
    assert "will be announced" in data["content"] and data["embeds"]  # with a preview
    await subscribe(world, other, tags="RAG")
    await check(world)
    assert messages(world, world.channel) == [] and messages(world, other) == []

    new_post(world, "fresh", "新着記事")
    await check(world)
    await check(world)  # a second round finds nothing more to send
    [message] = messages(world, world.channel)
    assert message["embeds"][0]["title"] == "新着記事"
    assert messages(world, other) == [] and messages(world, quiet) == []

    new_post(world, "rag-news", "RAG news", tags="[rag]")
    await check(world)
    assert [m["embeds"][0]["title"] for m in messages(world, other)] == ["RAG news"]
    assert len(messages(world, world.channel)) == 2


async def test_backfill_posts_exactly_that_many_oldest_first(world: World) -> None:
    await subscribe(world, world.channel, tags="AI", backfill=3)
    await check(world)
    titles = [m["embeds"][0]["title"] for m in messages(world, world.channel)]
    assert len(titles) == 3
    stored = {limits.cut(p.title, limits.EMBED_TITLE): p.date_utc for p in await world.bot.store.latest(3, "AI")}
    assert set(titles) == set(stored)
    assert [stored[t] for t in titles] == sorted(stored[t] for t in titles)


async def test_watcher_picks_up_a_new_file_by_itself(world: World) -> None:
    # The poll interval is an hour here: only the file-system event can trigger this round.
    await subscribe(world, world.channel)
    await check(world)
    new_post(world, "watched", "見張りの記事")
    await world.emu.wait_for(lambda: len(messages(world, world.channel)) == 1, 10, "the watcher's announcement")
    assert messages(world, world.channel)[0]["embeds"][0]["title"] == "見張りの記事"


async def test_scheduled_post_is_announced_only_when_due(world: World) -> None:
    await subscribe(world, world.channel)
    new_post(world, "later", "予約投稿", date=in_future(world, 3600))
    await check(world)
    assert messages(world, world.channel) == []
    clock(world).advance(3590)
    await check(world)
    assert messages(world, world.channel) == []  # seconds early is still early
    clock(world).advance(20)
    announcer(world).wake()  # or the poll; the clock moved past the post's date either way
    await world.emu.wait_for(lambda: len(messages(world, world.channel)) == 1, 10, "the scheduled announcement")
    assert messages(world, world.channel)[0]["embeds"][0]["title"] == "予約投稿"


async def test_mentions_only_the_configured_role(world: World) -> None:
    role = world.role
    await subscribe(world, world.channel, mention_role=role)
    new_post(world, "ping", "@everyone 見て <@1>")
    await check(world)
    [message] = messages(world, world.channel)
    assert message["content"] == f"<@&{role}>"
    request = next(r for r in world.emu.requests if r.method == "POST" and r.path.endswith("/messages"))
    assert request.body["allowed_mentions"]["parse"] == []
    assert [int(r) for r in request.body["allowed_mentions"]["roles"]] == [role]
    assert request.body["nonce"] and request.body["enforce_nonce"] is True


async def test_everyone_in_a_title_pings_nobody(world: World) -> None:
    await subscribe(world, world.channel)
    new_post(world, "everyone", "@everyone @here 緊急")
    await check(world)
    request = next(r for r in world.emu.requests if r.method == "POST" and r.path.endswith("/messages"))
    assert request.body.get("content") in (None, "")
    mentions = request.body["allowed_mentions"]
    assert mentions["parse"] == [] and not mentions.get("roles") and not mentions.get("users")


async def test_forbidden_channel_is_paused_with_reason_and_others_go_on(world: World) -> None:
    emu = world.emu
    broken, refused = world.channels["second"], world.channels["third"]
    for channel in (world.channel, broken, refused):
        await subscribe(world, channel)
    # The bot loses Send Messages in one channel after subscribing; another refuses with a raw 403.
    await update_channel(world, broken, [{"id": world.guild, "type": 0, "deny": SEND_MESSAGES}])
    emu.fail_next("POST", rf"^/channels/{refused}/messages$", 403)
    new_post(world, "fresh", "新着記事")
    await check(world)
    assert len(messages(world, world.channel)) == 1
    assert messages(world, broken) == [] and messages(world, refused) == []
    states = {s.channel_id: s for s in await world.bot.store.subscriptions()}
    assert "Send Messages" in (states[broken].paused_reason or "")
    assert "403" in (states[refused].paused_reason or "")
    assert states[world.channel].active

    listing = (await (await emu.slash_command("subscriptions", user=world.admin, locale="en-US")).response())["data"]
    text = str(listing["embeds"][0]["fields"])
    assert "paused: missing Send Messages, Embed Links since " in text and "active" in text
    listing = (await (await emu.slash_command("subscriptions", user=world.admin, locale="ja")).response())["data"]
    text = str(listing["embeds"][0]["fields"])
    assert "一時停止：権限が足りません：メッセージを送信、埋め込みリンク（" in text
    assert "一時停止：Discord に拒否されました：Missing Permissions（403）" in text
    assert "missing" not in text and "UTC" not in text

    # Fixing it and /resume delivers what was missed, once.
    await update_channel(world, broken, [])
    for channel in (broken, refused):
        await emu.slash_command("resume", {"channel": channel}, user=world.admin, locale="en-US")
    await check(world)
    assert len(messages(world, broken)) == 1 and len(messages(world, refused)) == 1
    assert len(messages(world, world.channel)) == 1


async def test_rate_limits_and_server_errors_still_deliver_once(world: World) -> None:
    emu = world.emu
    await subscribe(world, world.channel)
    emu.fail_next("POST", rf"^/channels/{world.channel}/messages$", 429, count=2, retry_after=0.05)
    emu.fail_next("POST", rf"^/channels/{world.channel}/messages$", 503, count=1)
    new_post(world, "a", "記事A")
    await check(world)  # discord.py waits out the 429s itself; the 503 backs the channel off
    assert messages(world, world.channel) == []
    clock(world).advance(RETRY_BASE_SECONDS)  # the back-off ends: it wakes a round by itself
    await emu.wait_for(lambda: len(messages(world, world.channel)) == 1, 20, "delivery after 429s and a 503")
    await check(world)  # waits for the round in flight, then finds nothing left to send
    [delivery] = await world.bot.store.deliveries(channel_id=world.channel)
    assert delivery.state == "sent" and delivery.attempts >= 1
    assert len(messages(world, world.channel)) == 1


async def test_forum_gets_a_thread_per_post_with_matching_tags(world: World) -> None:
    emu = world.emu
    forum = world.channels["forum"]
    data = await subscribe(world, forum)
    assert "will be announced" in data["content"]
    new_post(world, "forum", "フォーラムの記事" + "x" * 120, tags="[AI, LLM]")
    await check(world)
    threads = [c for c in emu.channels.values() if c.get("parent_id") == str(forum)]
    assert len(threads) == 1
    assert len(threads[0]["name"]) <= 100 and threads[0]["name"].startswith("フォーラムの記事")
    forum_tags = {t["name"]: t["id"] for t in emu.channels[forum]["available_tags"]}
    assert threads[0]["applied_tags"] == [forum_tags["ai"]]


async def test_subscribe_says_which_permission_is_missing(world: World) -> None:
    data = await subscribe(world, world.channels["closed"])
    assert "missing **Send Messages" in data["content"]
    handle = await world.emu.slash_command(
        "subscribe", {"channel": world.channels["closed"]}, user=world.admin, locale="ja"
    )
    assert "**メッセージを送信" in (await handle.response())["data"]["content"]
    assert await world.bot.store.subscriptions() == []


async def test_unsubscribe_stops_announcements(world: World) -> None:
    await subscribe(world, world.channel)
    handle = await world.emu.slash_command("unsubscribe", {"channel": world.channel}, user=world.admin, locale="ja")
    assert "停止しました" in (await handle.response())["data"]["content"]
    new_post(world, "after", "解除後の記事")
    await check(world)
    assert messages(world, world.channel) == []


async def test_a_burst_announces_only_the_newest_and_says_so_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await subscribe(world, world.channel)
    await check(world)
    clock(world).advance(0.01)
    for i in range(12):
        write_post(world.posts_dir, f"2025-09-{i + 1:02d}-burst-{i}.md", f"一斉投稿{i}", "本文です。", tags="[AI]")
    with caplog.at_level(logging.WARNING, logger="bot.discord.announcer"):
        await check(world)
    titles = [m["embeds"][0]["title"] for m in messages(world, world.channel)]
    assert titles == [f"一斉投稿{i}" for i in range(2, 12)]  # the newest 10, oldest first
    warnings = [r.getMessage() for r in caplog.records if "became new at once" in r.getMessage()]
    assert len(warnings) == 1 and "recording 2 as skipped" in warnings[0]


async def test_an_edited_post_is_not_announced_again(world: World) -> None:
    await subscribe(world, world.channel)
    new_post(world, "edited", "最初のタイトル")
    await check(world)
    new_post(world, "edited", "直したタイトル")  # same file, new content
    await check(world)
    assert [m["embeds"][0]["title"] for m in messages(world, world.channel)] == ["最初のタイトル"]
    assert (await world.bot.store.search("直した"))[0].post.title == "直したタイトル"


def clock(world: World) -> ManualClock:
    assert world.clock is not None
    return world.clock


def in_future(world: World, seconds: float) -> str:
    """A front-matter date `seconds` ahead of the bot's clock (front matter has whole seconds)."""
    moment = datetime.fromtimestamp(int(clock(world).time() + seconds), UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S +0000")


async def test_a_pending_post_re_dated_into_the_future_waits_for_its_new_date(world: World) -> None:
    await subscribe(world, world.channel)
    await check(world)
    new_post(world, "moved", "予約に戻した記事")
    world.emu.fail_next("POST", rf"^/channels/{world.channel}/messages$", 503)
    await check(world)
    assert messages(world, world.channel) == []
    # The author moves the pending post a few seconds into the future.
    new_post(world, "moved", "予約に戻した記事", date=in_future(world, 3600))
    new_post(world, "other", "ほかの新着記事")  # newer in the ledger: must not wait behind it
    await world.bot.sync.sync_now()
    clock(world).advance(RETRY_BASE_SECONDS)  # the 503's back-off is over
    await check(world)
    [post] = [p for p in await world.bot.store.all_posts() if p.title == "予約に戻した記事"]
    assert post.scheduled(clock(world).time())  # the round above ran before the new date
    assert [m["embeds"][0]["title"] for m in messages(world, world.channel)] == ["ほかの新着記事"]
    clock(world).advance(3600)
    announcer(world).wake()
    await world.emu.wait_for(lambda: len(messages(world, world.channel)) == 2, 15, "the re-dated post once due")
    assert not post.scheduled(clock(world).time())
    assert messages(world, world.channel)[1]["embeds"][0]["title"] == "予約に戻した記事"


async def test_a_pending_post_that_no_longer_matches_the_filters_is_skipped(world: World) -> None:
    await subscribe(world, world.channel, tags="AI")
    await check(world)
    new_post(world, "ai", "AIの記事")
    world.emu.fail_next("POST", rf"^/channels/{world.channel}/messages$", 503)
    await check(world)
    await subscribe(world, world.channel, tags="RAG")  # the admin narrows the filter meanwhile
    clock(world).advance(RETRY_BASE_SECONDS)
    await check(world)
    assert messages(world, world.channel) == []
    [delivery] = await world.bot.store.deliveries(channel_id=world.channel)
    assert delivery.state == "skipped" and "filters" in (delivery.last_error or "")


async def test_one_channel_failing_unexpectedly_stops_neither_the_others_nor_itself_for_good(world: World) -> None:
    second = world.channels["second"]
    await subscribe(world, world.channel)
    await subscribe(world, second)
    await check(world)
    # Discord answers one channel's send with something discord.py cannot read (no message id).
    world.emu.fail_next("POST", rf"^/channels/{world.channel}/messages$", 200, body={"unexpected": True})
    new_post(world, "fresh", "新着記事")
    await check(world)  # does not raise, and returns only once every channel is done
    assert messages(world, world.channel) == []
    assert [m["embeds"][0]["title"] for m in messages(world, second)] == ["新着記事"]
    clock(world).advance(RETRY_BASE_SECONDS)  # the back-off ends
    await check(world)
    assert [m["embeds"][0]["title"] for m in messages(world, world.channel)] == ["新着記事"]
    assert len(messages(world, second)) == 1


def _lose_the_recordings(db_path: Path) -> None:
    with sqlite3.connect(db_path, timeout=60) as raw:
        raw.execute("UPDATE deliveries SET state = 'pending', message_id = NULL, sent_at = NULL")


@pytest.mark.sqlite_only("edits the SQLite file behind the bot's back")
async def test_a_forum_thread_whose_recording_was_lost_is_not_opened_again(world: World) -> None:
    forum = world.channels["forum"]
    await subscribe(world, forum)
    new_post(world, "forum", "フォーラムの記事")
    await check(world)
    [thread] = [c for c in world.emu.channels.values() if c.get("parent_id") == str(forum)]
    # The state a crash between opening the thread and recording it leaves behind. The bot may be
    # writing meanwhile (its watcher saw the post file), in a transaction that awaits on this event
    # loop: the edit waits for the lock in a thread of its own, as another process would, so the loop
    # (and the bot's transaction) goes on. Blocking the loop here held that lock until the timeout.
    await asyncio.to_thread(_lose_the_recordings, world.db_path)
    await check(world)
    assert [c for c in world.emu.channels.values() if c.get("parent_id") == str(forum)] == [thread]
    [delivery] = await world.bot.store.deliveries(channel_id=forum)
    assert delivery.state == "sent" and delivery.message_id == int(thread["id"])
    # A later post with the same title is a new post and gets its own thread.
    new_post(world, "forum-again", "フォーラムの記事")
    await check(world)
    assert len([c for c in world.emu.channels.values() if c.get("parent_id") == str(forum)]) == 2


async def test_a_permanent_refusal_pauses_the_subscription_with_discords_reason(world: World) -> None:
    emu = world.emu
    await subscribe(world, world.channel)
    body = {"message": "A tag is required to create a forum post in this channel", "code": 40067}
    emu.fail_next("POST", rf"^/channels/{world.channel}/messages$", 400, body=body)
    new_post(world, "refused", "断られる記事")
    await check(world)
    [subscription] = await world.bot.store.subscriptions()
    assert not subscription.active
    shown = describe_pause(subscription, ZoneInfo("UTC"), "en-US")
    assert shown.startswith("Discord refused: A tag is required to create a forum post in this channel (400) since ")
    [delivery] = await world.bot.store.deliveries(channel_id=world.channel)
    assert delivery.state == "pending"
    await (await emu.slash_command("resume", {"channel": world.channel}, user=world.admin, locale="en-US")).response()
    await check(world)
    assert [m["embeds"][0]["title"] for m in messages(world, world.channel)] == ["断られる記事"]


async def test_subscribe_with_very_long_tags_answers_within_the_message_limit(world: World) -> None:
    tags = " ".join(f"tag{i:04d}" for i in range(400))  # 3199 characters: an option may hold 6000
    data = await subscribe(world, world.channel, tags=tags, backfill=1)
    assert len(data["content"]) <= limits.CONTENT
    assert "tag0000, tag0001" in data["content"] and "…" in data["content"]
    assert f"<#{world.channel}>" in data["content"]
    [subscription] = await world.bot.store.subscriptions()
    assert len(subscription.tags) == 400


async def test_subscribe_preview_is_in_the_servers_language_like_the_announcements(world: World) -> None:
    data = await subscribe(world, world.channel)  # an English-speaking admin in a Japanese server
    assert "will be announced" in data["content"]
    [preview] = data["embeds"]
    names = [field["name"] for field in preview["fields"]]
    assert "公開日" in names and "Published" not in names
    assert preview["footer"]["text"].startswith("要約")
    new_post(world, "fresh", "新着記事")
    await check(world)
    [announced] = messages(world, world.channel)
    assert [f["name"] for f in announced["embeds"][0]["fields"]][:1] == names[:1]


async def test_a_subscription_whose_channel_was_deleted_can_be_removed(world: World) -> None:
    emu, gone = world.emu, world.channels["second"]
    await subscribe(world, world.channel)
    await subscribe(world, gone)
    deleted = asyncio.ensure_future(world.bot.wait_for("guild_channel_delete", timeout=10))
    await emu.dispatch("CHANNEL_DELETE", emu.remove_channel(gone))
    await deleted
    handle = await emu.autocomplete(
        "unsubscribe", "subscription", {"subscription": ""}, user=world.admin, locale="en-US"
    )
    choices = {c["name"]: c["value"] for c in await handle.choices()}
    assert choices == {"#general": str(world.channel), f"deleted channel {gone}": str(gone)}
    member = await emu.autocomplete("unsubscribe", "subscription", {"subscription": ""}, user=world.member)
    assert await member.choices() == []
    handle = await emu.slash_command("unsubscribe", {"subscription": str(gone)}, user=world.admin, locale="en-US")
    assert "Stopped announcing" in (await handle.response())["data"]["content"]
    assert [s.channel_id for s in await world.bot.store.subscriptions()] == [world.channel]
    handle = await emu.slash_command("unsubscribe", {}, user=world.admin, locale="en-US")
    assert "Pick the channel" in (await handle.response())["data"]["content"]


async def test_a_post_discord_refuses_for_its_content_is_skipped_and_the_channel_goes_on(world: World) -> None:
    await subscribe(world, world.channel)
    body = {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {"embeds": {"0": {"url": {"_errors": [{"code": "URL_TYPE_INVALID_URL", "message": "Not a URL."}]}}}},
    }
    world.emu.fail_next("POST", rf"^/channels/{world.channel}/messages$", 400, body=body)
    new_post(world, "refused", "断られる記事")
    new_post(world, "fine", "普通の記事")
    await check(world)
    assert [m["embeds"][0]["title"] for m in messages(world, world.channel)] == ["普通の記事"]
    [subscription] = await world.bot.store.subscriptions()
    assert subscription.active  # one post's message is no reason to stop the channel
    refused, sent = await world.bot.store.deliveries(channel_id=world.channel)
    assert (refused.state, sent.state) == ("skipped", "sent")
    assert "Invalid Form Body" in (refused.last_error or "") and "(400)" in (refused.last_error or "")
    await check(world)  # and it is not tried again
    assert len(messages(world, world.channel)) == 1
