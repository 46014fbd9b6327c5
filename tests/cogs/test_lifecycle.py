"""The bot's lifecycle: watching for posts and announcing them belong to the bot, not to a cog.

Driven through the loopback Discord: posts are files written into the blog folder, users
are slash commands, announcements are messages the emulator received.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from types import FrameType

from bot_harness import World, connection_thread_niceness
from factories import write_post

from bot.content.cleaning import clean_body
from bot.discord.client import FULL_COLLECTION_EVERY, PYTHON_FULL_COLLECTION_EVERY
from bot.services.parse_pool import WORKER_NICENESS

# Ordinary text, a lot of it: linear to clean, but seconds of work for the batch below.
HEAVY_BODY = "本文です。[リンク](https://example.org) を読んでください。" * 3000
HEAVY_POSTS = 6


async def subscribe(world: World, channel: int) -> None:
    handle = await world.emu.slash_command("subscribe", {"channel": channel}, user=world.admin, locale="en-US")
    assert "will be announced" in (await handle.response())["data"]["content"]


async def test_unloading_the_announcements_cog_keeps_ingest_and_announcements(world: World) -> None:
    await subscribe(world, world.channel)
    await world.bot.unload_extension("cogs.announcements")
    assert world.bot.get_cog("AnnouncementsCog") is None
    assert world.bot.sync.watcher.running and world.bot.announcer.running

    assert world.clock is not None
    world.clock.advance(0.01)  # the post is first seen after the subscription was made
    write_post(world.posts_dir, "2025-07-02-after-unload.md", "アンロード後の記事", "本文です。", tags="[AI]")
    # Nobody calls the bot: the file event reaches the watcher, the watcher the announcer.
    await world.emu.wait_for(
        lambda: len(world.emu.sent_messages.get(world.channel, [])) == 1, 20, "the announcement after the unload"
    )
    [message] = world.emu.sent_messages[world.channel]
    assert message["embeds"][0]["title"] == "アンロード後の記事"
    assert [hit.post.title for hit in await world.bot.store.search("アンロード後")] == ["アンロード後の記事"]

    await world.bot.load_extension("cogs.announcements")  # and back: the commands return, nothing doubles
    handle = await world.emu.slash_command("subscriptions", user=world.admin, locale="en-US")
    assert "general" in str((await handle.response())["data"]["embeds"][0]["fields"])
    assert world.bot.sync.watcher.running and world.bot.announcer.running


async def test_what_start_up_built_is_kept_out_of_full_garbage_collections(world: World) -> None:
    # frozen objects are skipped by the collector's full passes, which stop the event loop
    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold()[2] == FULL_COLLECTION_EVERY
    await world.bot.close()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold()[2] == PYTHON_FULL_COLLECTION_EVERY


async def test_the_bot_writes_and_ingests_at_a_lower_priority_than_it_reads(world: World) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    if sys.platform.startswith("linux"):  # elsewhere niceness is the whole process's: nothing is lowered
        assert await world.bot.store.database.write(connection_thread_niceness) == max(base, WORKER_NICENESS)
    assert await world.bot.store.database.read(connection_thread_niceness) == base
    ingester = world.bot.sync.ingester.pid
    assert ingester is not None and ingester != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, ingester) == max(base, WORKER_NICENESS)
    worker = await world.bot.sync.ingester.parse_worker_pid()
    assert os.getpriority(os.PRIO_PROCESS, worker) == max(base, WORKER_NICENESS)


async def test_an_interaction_is_answered_while_a_heavy_post_is_ingested(world: World) -> None:
    # Issue 14's case (a 40 KB run of "[") with a few posts that take real work to clean.
    write_post(world.posts_dir, "2025-07-03-brackets.md", "括弧だらけ", "[" * 40_000 + "\n\n" + HEAVY_BODY)
    for i in range(HEAVY_POSTS):
        write_post(world.posts_dir, f"2025-07-04-heavy-{i}.md", f"長い記事{i}", HEAVY_BODY)
    # Count cleaning done on this thread, the event loop's: calls, not seconds.
    cleaned_on_loop = 0

    def count_cleaning(frame: FrameType, event: str, _arg: object) -> None:
        nonlocal cleaned_on_loop
        if event == "call" and frame.f_code is clean_body.__code__:
            cleaned_on_loop += 1

    sys.setprofile(count_cleaning)
    try:
        checking = asyncio.create_task(world.bot.sync.sync_now())
        handle = await world.emu.slash_command("about", user=world.member, locale="en-US")
        response = await handle.response()
        answered_during_ingest = not checking.done()
        await asyncio.wait_for(checking, 120)
    finally:
        sys.setprofile(None)
    assert cleaned_on_loop == 0, "posts were cleaned on the event loop"
    assert response["type"] == 4 and response["data"]["embeds"][0]["title"] == "About Kiji"
    assert answered_during_ingest, "/about waited for the ingest: parsing ran on the event loop"
    assert world.bot.last_ingest is not None and world.bot.last_ingest.failed == []
    assert len(await world.bot.store.search("長い記事")) == HEAVY_POSTS
    assert [hit.post.title for hit in await world.bot.store.search("括弧だらけ")] == ["括弧だらけ"]
    assert world.emu.violations == []  # in particular no missed 3-second deadline


async def test_the_bot_keeps_ingesting_after_a_parse_worker_is_killed(world: World) -> None:
    worker = await world.bot.sync.ingester.parse_worker_pid()  # a worker of the bot's ingest process
    assert worker not in (os.getpid(), world.bot.sync.ingester.pid)
    os.kill(worker, signal.SIGKILL)  # as the kernel's OOM killer would
    for name in ("first", "second"):
        write_post(world.posts_dir, f"2025-07-05-{name}.md", f"殺された後の記事 {name}", "本文です。")
        await world.bot.sync.sync_now()
        assert [hit.post.title for hit in await world.bot.store.search(name)] == [f"殺された後の記事 {name}"]


async def test_the_bot_keeps_ingesting_after_its_ingest_process_is_killed(world: World) -> None:
    killed = world.bot.sync.ingester.pid
    assert killed is not None and killed != os.getpid()
    os.kill(killed, signal.SIGKILL)
    write_post(world.posts_dir, "2025-07-06-after.md", "取り込み役が殺された後の記事", "本文です。")
    report = await world.bot.sync.sync_now()
    assert report.added == 1 and report.failed == []
    assert [hit.post.title for hit in await world.bot.store.search("殺された後")] == ["取り込み役が殺された後の記事"]
    assert world.bot.sync.ingester.pid not in (None, killed)
