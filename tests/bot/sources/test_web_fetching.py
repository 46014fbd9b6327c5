"""The fetcher's politeness and bounds, and the archive's resume, against a real server on 127.0.0.1.

Time is a ManualClock: back-offs and rate limits move it, the test never waits on them.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_web_cli import ingest, posts
from web_server import FIXTURES, WebServer

from bot.clock import ManualClock
from bot.sources.fetcher import Fetcher, FetchError, HostPolicy


async def test_429_with_retry_after_is_waited_out_on_the_clock(web_server: WebServer) -> None:
    web_server.fail("/feed", 429, headers={"Retry-After": "120"})
    clock = ManualClock(autoadvance=True)
    async with Fetcher(HostPolicy(clock, rate=1000)) as fetcher:
        with pytest.raises(FetchError, match="429"):
            await fetcher.get(web_server.url("/feed"))
    assert len(web_server.requests("/feed")) == 4  # the first try and three more
    assert clock.monotonic() >= 3 * 120


async def test_requests_to_one_host_are_spaced_by_the_rate(web_server: WebServer) -> None:
    web_server.put("/a", "a")
    clock = ManualClock(autoadvance=True)
    async with Fetcher(HostPolicy(clock, rate=2)) as fetcher:
        for _ in range(4):
            await fetcher.get(web_server.url("/a"))
    # robots.txt and four GETs: five requests, 0.5 s apart
    assert clock.monotonic() == pytest.approx(2.0)


async def test_robots_disallow_and_crawl_delay_are_obeyed(web_server: WebServer) -> None:
    web_server.put("/robots.txt", "User-agent: *\nDisallow: /private/\nCrawl-delay: 7\n", "text/plain")
    web_server.put("/private/feed", "secret")
    web_server.put("/feed", "open")
    clock = ManualClock(autoadvance=True)
    async with Fetcher(HostPolicy(clock, rate=1000)) as fetcher:
        with pytest.raises(FetchError, match=r"robots\.txt disallows"):
            await fetcher.get(web_server.url("/private/feed"))
        await fetcher.get(web_server.url("/feed"))
        await fetcher.get(web_server.url("/feed"))
    assert web_server.requests("/private/feed") == []
    assert clock.monotonic() >= 7.0


async def test_a_server_that_does_not_answer_in_time_is_a_timeout(web_server: WebServer) -> None:
    web_server.put("/slow", "late", delay=5.0)
    async with Fetcher(HostPolicy(ManualClock(autoadvance=True), rate=1000), total_timeout=0.3) as fetcher:
        with pytest.raises(FetchError, match="did not answer within"):
            await fetcher.get(web_server.url("/slow"))


def test_the_archive_is_silent_and_a_failed_page_is_retried_later(web_server: WebServer, tmp_path: Path) -> None:
    served = web_server.serve_site(FIXTURES / "jekyll")
    feed = web_server.replies["/feed.xml"].body.decode()
    first_entry_end = feed.index("</entry>") + len("</entry>")
    only_the_newest = feed[:first_entry_end] + "</feed>"
    web_server.put("/feed.xml", only_the_newest, "application/atom+xml")
    failing = next(path for path in served if path.startswith("/2025/08/29/1-"))
    good = web_server.replies[failing]
    web_server.fail(failing, 500)
    first = ingest(web_server.url("/"), tmp_path, "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["added"] == 3 and any(failing in failure["path"] for failure in report["failed"])
    with sqlite3.connect(tmp_path / "kiji.db") as db:
        silent = db.execute("SELECT count(*) FROM posts WHERE first_seen_at = 0").fetchone()[0]
    assert silent == 2  # the archive's pages; the feed's one entry is the blog's first read
    web_server.replies[failing] = good
    second = ingest(web_server.url("/"), tmp_path, "--json")
    assert json.loads(second.stdout)["added"] == 1
    assert len(posts(tmp_path)) == 4
    fetched = [entry.path for entry in web_server.requests() if entry.path.startswith("/2025/") and entry.status == 200]
    assert sorted(fetched) == sorted(set(fetched))  # no page fetched twice
