"""The ingest process lets its parse workers go between ingests, and forks them again for the next
one that has files to parse; the bot renews a used ingest process when it has been idle (a fresh one
takes its place, ready for the next ingest), and leaves an unused one alone (issue 21: an idle bot's
memory, without slowing an ingest)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from factories import JA_BODY, make_blog, write_post
from process_tree import alive, command_line, every_child, parse_workers, until

from bot.clock import ManualClock
from bot.services.ingest_process import IngestProcess
from bot.sources.base import Changes
from bot.sources.site_config import load_site
from bot.store import Store

WHOLE_SITE = Changes(version=None)
SOURCE = 1


@pytest.fixture
async def ingester(tmp_path: Path) -> AsyncIterator[IngestProcess]:
    store = await Store.open(tmp_path / "kiji.db")
    assert await store.default_source_id() == SOURCE
    process = IngestProcess(store, workers=2, pool_idle_s=0.2, idle_s=3600)  # the process stays
    try:
        yield process
    finally:
        await process.stop()
        await store.close()


children = parse_workers  # the ingest process's parse workers


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from Linux's /proc")
async def test_parse_workers_go_when_idle_and_come_back_for_new_posts(tmp_path: Path, ingester: IngestProcess) -> None:
    blog = make_blog(tmp_path / "blog")
    site = load_site(blog)
    first = await ingester.ingest(site, WHOLE_SITE, SOURCE, 1_750_000_000.0)
    assert first.added > 0 and ingester.pid is not None
    child = ingester.pid
    await until(lambda: not children(child), "the idle ingest process to let its parse workers go")

    nothing_new = await ingester.ingest(site, WHOLE_SITE, SOURCE, 1_750_000_060.0)
    assert (nothing_new.added, nothing_new.updated) == (0, 0)
    assert children(child) == set()  # a poll with nothing to parse starts no worker

    write_post(blog, "2025-09-01-later.md", "A later post", JA_BODY)
    later = await ingester.ingest(site, WHOLE_SITE, SOURCE, 1_750_000_120.0)
    assert later.added == 1 and later.failed == [] and ingester.pid == child


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from Linux's /proc")
async def test_a_used_ingest_process_is_renewed_when_idle_and_the_next_ingest_finds_the_fresh_one_ready(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "kiji.db")
    assert await store.default_source_id() == SOURCE
    clock = ManualClock()
    process = IngestProcess(store, workers=1, idle_s=60, clock=clock)
    try:
        blog = make_blog(tmp_path / "blog")
        first = await process.ingest(load_site(blog), WHOLE_SITE, SOURCE, 1_750_000_000.0)
        child = process.pid
        assert first.added > 0 and child is not None
        workers = children(child)
        assert workers, "the ingest parsed its posts without a parse worker; the test proves nothing"

        await clock.wait_for_sleepers(1)  # the idle period runs on the bot's clock
        clock.advance(59)
        await asyncio.sleep(0)  # let the loop run whatever is due now: nothing is
        assert process.pid == child and alive(child)
        clock.advance(1)
        await until(lambda: not alive(child), "the used ingest process to be let go")
        await until(lambda: not any(alive(pid) for pid in workers), "its workers to go with it")
        await until(lambda: process.pid not in (None, child), "a fresh ingest process to take its place")
        fresh = process.pid
        assert fresh is not None and alive(fresh) and process.fresh  # started at once, before any ingest asks
        assert clock.sleepers == 0  # a fresh process that has done nothing is not renewed again

        write_post(blog, "2025-09-01-later.md", "A later post", JA_BODY)
        later = await process.ingest(load_site(blog), WHOLE_SITE, SOURCE, 1_750_000_120.0)
        assert later.added == 1 and later.failed == [] and later.unchanged == first.added
        assert process.pid == fresh and not process.fresh
    finally:
        await process.stop()
        await store.close()


async def test_an_ingest_that_found_nothing_new_leaves_the_process_as_it_is(tmp_path: Path) -> None:
    """A poll of a blog with nothing new arms no renewal: an idle bot polling every minute starts no processes."""
    store = await Store.open(tmp_path / "kiji.db")
    assert await store.default_source_id() == SOURCE
    clock = ManualClock()
    process = IngestProcess(store, workers=1, idle_s=60, clock=clock)
    try:
        site = load_site(make_blog(tmp_path / "blog"))
        await process.ingest(site, WHOLE_SITE, SOURCE, 1_750_000_000.0)
        used = process.pid
        await clock.wait_for_sleepers(1)
        clock.advance(60)
        await until(lambda: process.pid not in (None, used), "the used process to be renewed")
        fresh = process.pid
        nothing_new = await process.ingest(site, WHOLE_SITE, SOURCE, 1_750_000_060.0)
        assert not (nothing_new.added or nothing_new.updated or nothing_new.failed or nothing_new.removed), nothing_new
        await asyncio.sleep(0)
        assert clock.sleepers == 0 and process.pid == fresh
    finally:
        await process.stop()
        await store.close()


REPO = Path(__file__).resolve().parents[3]
BOT_AFTER_AN_INGEST = """
import asyncio, sys
from pathlib import Path
from bot.services.ingest_process import IngestProcess
from bot.sources.base import Changes
from bot.sources.site_config import load_site
from bot.store import Store

async def main():
    store = await Store.open(sys.argv[1])
    ingester = IngestProcess(store, workers=1)
    site = load_site(Path(sys.argv[2]))
    report = await ingester.ingest(site, Changes(version=None), await store.default_source_id(), 1.75e9)
    print(report.added, ingester.pid, flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the test looks at the processes meanwhile
    await ingester.stop()
    await store.close()

asyncio.run(main())
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from Linux's /proc")
def test_no_process_of_the_bot_keeps_a_resource_tracker_and_the_workers_are_forked(tmp_path: Path) -> None:
    """multiprocessing's resource tracker (a Python process, 7 MB) is needed by spawned pools only: the
    ingest process forks its workers, which start without importing anything again."""
    blog = make_blog(tmp_path / "blog")
    bot = subprocess.Popen(
        [sys.executable, "-c", BOT_AFTER_AN_INGEST, str(tmp_path / "kiji.db"), str(blog)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert bot.stdout is not None and bot.stdin is not None
        line = bot.stdout.readline().decode()
        assert line, f"the bot ended before its ingest: {bot.stderr.read().decode()[-2000:] if bot.stderr else ''}"
        added, ingester = map(int, line.split())
        assert added > 0 and children(ingester), "no parse worker was started; the test proves nothing"
        assert every_child(bot.pid) == {ingester}
        assert not [pid for pid in every_child(ingester) if b"resource_tracker" in command_line(pid)]
        # forked: a worker runs the ingest process's own program, where a spawned one runs multiprocessing's
        assert {command_line(worker) for worker in children(ingester)} == {command_line(ingester)}
        bot.stdin.write(b"\n")
        bot.stdin.close()
        assert bot.wait(60) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        for stream in (bot.stdout, bot.stderr):
            if stream:
                stream.close()


@pytest.mark.parametrize("stop_begun", [False, True], ids=["before-the-stop-runs", "while-it-stops"])
async def test_an_ingest_as_the_idle_period_ends_is_answered(tmp_path: Path, stop_begun: bool) -> None:
    """The idle stop and a new request meet: the request wins, or waits for the stop and starts a new process."""
    store = await Store.open(tmp_path / "kiji.db")
    assert await store.default_source_id() == SOURCE
    clock = ManualClock()
    process = IngestProcess(store, workers=1, idle_s=60, clock=clock)
    try:
        blog = make_blog(tmp_path / "blog")
        first = await process.ingest(load_site(blog), WHOLE_SITE, SOURCE, 1_750_000_000.0)
        child = process.pid
        await clock.wait_for_sleepers(1)
        clock.advance(60)  # the idle stop is due
        if stop_begun:
            await asyncio.sleep(0)  # the stop takes the lock and closes the child's pipe
            assert process.pid is None
        write_post(blog, "2025-09-01-later.md", "A later post", JA_BODY)
        later = await process.ingest(load_site(blog), WHOLE_SITE, SOURCE, 1_750_000_120.0)
        assert (later.added, later.unchanged, later.failed) == (1, first.added, [])
        assert (process.pid == child) is not stop_begun
    finally:
        await process.stop()
        await store.close()


async def test_kiji_ingest_idle_seconds_zero_keeps_the_ingest_process_for_the_next_push(tmp_path: Path) -> None:
    """KIJI_INGEST_IDLE_SECONDS=0: no idle stop is armed, so a push after a quiet hour pays no start."""
    from bot.discord.client import blog_sync
    from bot.settings import Settings

    store = await Store.open(tmp_path / "kiji.db")
    assert await store.default_source_id() == SOURCE
    clock = ManualClock()
    blog = {"KIJI_POSTS_DIR": str(tmp_path / "blog")}
    assert blog_sync(Settings.from_env(blog, dotenv_path=None), store, [], clock=clock).ingester.idle_s == 30
    settings = Settings.from_env({**blog, "KIJI_INGEST_IDLE_SECONDS": "0"}, dotenv_path=None)
    sync = blog_sync(settings, store, [], clock=clock)
    assert sync.ingester.idle_s is None
    process = IngestProcess(store, workers=1, idle_s=sync.ingester.idle_s, clock=clock)
    try:
        first = await process.ingest(load_site(make_blog(tmp_path / "blog")), WHOLE_SITE, SOURCE, 1_750_000_000.0)
        child = process.pid
        assert first.added > 0 and child is not None
        clock.advance(3600)
        await asyncio.sleep(0)
        assert clock.sleepers == 0 and process.pid == child and alive(child)
    finally:
        await process.stop()
        await store.close()
