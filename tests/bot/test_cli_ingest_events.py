"""`kiji ingest` into a PostgreSQL store that bots are running on: they hear that posts changed, as they
hear it from the lease holder's own ingests, and drop their cached tag and title lists at once
(issue 24, point 4) — not up to a minute later. An ingest that changed nothing tells them nothing."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from factories import JA_BODY, make_blog, write_post

from bot.store import open_store
from bot.store.cluster_events import POSTS_CHANGED, SYNC, ClusterEvent

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60.0


async def kiji_ingest(posts: Path, url: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "ingest", "--posts", str(posts), "--db", url,
        cwd=REPO, env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, err.decode()[-2000:]


async def test_a_running_bot_hears_that_kiji_ingest_changed_posts(postgres_url: str, tmp_path: Path) -> None:
    posts = make_blog(tmp_path / "posts")
    await kiji_ingest(posts, postgres_url)  # the store exists, as a running bot's does
    bot = await open_store(postgres_url, create=False)
    heard: asyncio.Queue[ClusterEvent] = asyncio.Queue()
    try:
        await bot.listen_events(heard.put_nowait)
        write_post(posts, "2025-09-01-later.md", "A later post", JA_BODY, tags="[NewTag]")
        await kiji_ingest(posts, postgres_url)
        assert (await asyncio.wait_for(heard.get(), WAIT_S)).kind == POSTS_CHANGED

        await kiji_ingest(posts, postgres_url)  # nothing new
        marker = ClusterEvent(SYNC, "marker")  # published after that ingest ended: heard after anything it sent
        await bot.publish_event(marker)
        assert await asyncio.wait_for(heard.get(), WAIT_S) == marker
    finally:
        await bot.close()
