"""How often a feed is asked, and where the archive is found: against a real server on 127.0.0.1.

A feed's `<ttl>` (minutes) and its `Cache-Control: max-age` are lower bounds on the poll interval:
before they run out Kiji does not ask at all, after they do it asks with validators. The sitemap
may be an index of further sitemaps, gzipped, named by robots.txt.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_web_cli import BODY, REPO, ingest, kiji, posts
from web_feeds import Entry, post_html, wordpress_rss
from web_server import FIXTURES, WebServer

from bot.clock import ManualClock
from bot.sources.specs import WebSpec
from bot.sources.web import WebSource

RSS = "application/rss+xml; charset=UTF-8"


def feed_with_ttl(server: WebServer, minutes: int) -> str:
    entries = [Entry("a", "記事", post_html(BODY))]
    return wordpress_rss(server.base, entries).replace("<channel>", f"<channel><ttl>{minutes}</ttl>", 1)


@pytest.mark.parametrize("how", ["ttl", "cache-control"])
async def test_the_feed_is_not_asked_again_before_it_says_it_stays_fresh(web_server: WebServer, how: str) -> None:
    if how == "ttl":
        web_server.put("/feed", feed_with_ttl(web_server, 60), RSS)
    else:
        entries = [Entry("a", "記事", post_html(BODY))]
        web_server.put("/feed", wordpress_rss(web_server.base, entries), RSS, headers={"Cache-Control": "max-age=3600"})
    clock = ManualClock(autoadvance=True)
    source = WebSource(WebSpec(web_server.url("/feed")), Path("/nonexistent"), clock=clock, backfill=False)
    first = await source.poll(None)
    assert len(first.entries) == 1 and len(web_server.requests("/feed")) == 1

    clock.advance(59 * 60)  # KIJI_POLL_SECONDS would poll many times in an hour: none reaches the server
    for _ in range(3):
        again = await source.poll(first.version)
        assert again.entries == () and again.version == first.version
    assert len(web_server.requests("/feed")) == 1

    clock.advance(2 * 60)  # an hour has passed: asked again, with its validators, and answered 304
    later = await source.poll(first.version)
    [_, asked] = web_server.requests("/feed")
    assert asked.status == 304 and asked.if_none_match
    assert later.entries == ()


async def test_a_poll_requested_by_sync_asks_even_when_fresh(web_server: WebServer) -> None:
    web_server.put("/feed", feed_with_ttl(web_server, 60), RSS)
    source = WebSource(
        WebSpec(web_server.url("/feed")), Path("/nonexistent"), clock=ManualClock(autoadvance=True), backfill=False
    )
    first = await source.poll(None)
    source.request_poll()
    await source.poll(first.version)
    assert len(web_server.requests("/feed")) == 2


def test_a_second_ingest_within_the_ttl_does_not_ask_the_feed(web_server: WebServer, tmp_path: Path) -> None:
    web_server.put("/feed", feed_with_ttl(web_server, 30), RSS)
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 0
    second = ingest(web_server.url("/feed"), tmp_path, "--json")
    assert second.returncode == 0 and json.loads(second.stdout)["added"] == 0
    assert len(web_server.requests("/feed")) == 1
    assert len(posts(tmp_path)) == 1


def test_a_gzipped_sitemap_behind_a_sitemap_index_named_by_robots_fills_the_archive(
    web_server: WebServer, tmp_path: Path
) -> None:
    served = web_server.serve_site(FIXTURES / "jekyll")
    feed = web_server.replies["/feed.xml"].body.decode()
    only_the_newest = feed[: feed.index("</entry>") + len("</entry>")] + "</feed>"
    web_server.put("/feed.xml", only_the_newest, "application/atom+xml")
    plain = web_server.replies.pop("/sitemap.xml").body  # no /sitemap.xml to fall back on
    post_paths = [path for path in served if path.startswith("/2025/")]
    assert len(post_paths) == 4 and all(path.encode() in plain for path in post_paths)
    web_server.put("/robots.txt", f"User-agent: *\nSitemap: {web_server.base}/sitemaps/index.xml\n", "text/plain")
    web_server.put(
        "/sitemaps/index.xml",
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{web_server.base}/sitemaps/posts.xml.gz</loc></sitemap>"
        "<sitemap><loc>/sitemaps/pages.xml</loc></sitemap></sitemapindex>",
        "application/xml",
    )
    web_server.put("/sitemaps/posts.xml.gz", gzip.compress(plain), "application/gzip")
    web_server.put(
        "/sitemaps/pages.xml",
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{web_server.base}/about/</loc></url></urlset>",
        "application/xml",
    )
    result = ingest(web_server.url("/"), tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["failed"] == []
    stored = posts(tmp_path)
    assert len(stored) == 4 and len({post["title"] for post in stored}) == 4
    with sqlite3.connect(tmp_path / "kiji.db") as db:
        assert db.execute("SELECT count(*) FROM posts WHERE silent").fetchone()[0] == 3
    asked = {entry.path for entry in web_server.requests()}
    assert {"/sitemaps/index.xml", "/sitemaps/posts.xml.gz", "/sitemaps/pages.xml"} <= asked
    assert "/sitemap.xml" not in asked


def sources_json(source: str, tmp_path: Path) -> list[dict[str, object]]:
    result = kiji(
        "sources", "--source", source, "--db", str(tmp_path / "kiji.db"), "--json", data_dir=tmp_path / "data"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_gone_feed_shows_in_kiji_sources_with_why_and_what_to_do(web_server: WebServer, tmp_path: Path) -> None:
    web_server.put("/feed", wordpress_rss(web_server.base, [Entry("a", "記事", post_html(BODY))]), RSS)
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 0
    web_server.fail("/feed", 410)
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 2
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 2  # stopped: the feed is not asked again
    assert len(web_server.requests("/feed")) == 2
    [blog] = sources_json(web_server.url("/feed"), tmp_path)
    assert blog["posts"] == 1 and blog["last_success_at"] and blog["configured"]
    error = str(blog["last_error"])
    assert "410" in error and "removed it for good" in error and "remove it from KIJI_SOURCES" in error
    assert blog["last_error_at"] >= blog["last_success_at"]  # type: ignore[operator]


def test_a_failing_feed_shows_in_kiji_sources_and_keeps_its_posts(web_server: WebServer, tmp_path: Path) -> None:
    web_server.put("/feed", wordpress_rss(web_server.base, [Entry("a", "記事", post_html(BODY))]), RSS)
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 0
    web_server.fail("/feed", 503, headers={"Retry-After": "86400"})
    failed = ingest(web_server.url("/feed"), tmp_path)
    assert failed.returncode == 2
    [blog] = sources_json(web_server.url("/feed"), tmp_path)
    error = str(blog["last_error"])
    assert blog["posts"] == 1 and "503" in error and "tries again at a later poll" in error
    assert error in failed.stderr
    web_server.put("/feed", wordpress_rss(web_server.base, [Entry("a", "記事", post_html(BODY))]), RSS)
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 0
    [blog] = sources_json(web_server.url("/feed"), tmp_path)
    assert blog["last_error"] is None


def test_the_backfill_draws_a_progress_bar_on_a_terminal(web_server: WebServer, tmp_path: Path) -> None:
    """On a terminal, `kiji ingest` of a web blog shows the archive's pages as they are fetched."""
    web_server.serve_site(FIXTURES / "jekyll")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment.update({"PYTHONPATH": str(REPO), "KIJI_DATA_DIR": str(tmp_path / "data"), "KIJI_FETCH_RATE": "1000"})
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "ingest", "--source", web_server.url("/"), "--db", str(tmp_path / "db")],
            cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=120, check=False,
        )  # fmt: skip
        os.close(terminal)
        drawn = b""
        while select.select([controller], [], [], 0)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end is closed: everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0, drawn.decode("utf-8", "replace")
    shown = drawn.decode("utf-8", "replace")
    pages = web_server.replies["/sitemap.xml"].body.count(b"<loc>")  # the posts, the home and about pages
    assert f"fetching archive pages [{'#' * 30}] {pages}/{pages}" in shown
    assert f"] 0/{pages}" in shown and f"] 1/{pages}" in shown  # drawn as it goes, not only at the end
    assert "reading posts [" in shown


@pytest.mark.parametrize("home_page", [None, "https://bot.example/kiji"])
def test_the_user_agent_names_kiji_its_version_and_whom_to_ask(
    web_server: WebServer, tmp_path: Path, home_page: str | None
) -> None:
    web_server.put("/feed", wordpress_rss(web_server.base, [Entry("a", "記事", post_html(BODY))]), RSS)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment.update({"PYTHONPATH": str(REPO), "KIJI_DATA_DIR": str(tmp_path / "data")})
    if home_page:
        environment["KIJI_USER_AGENT_URL"] = home_page
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", "--source", web_server.url("/feed"), "--db", str(tmp_path / "db")],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    version = importlib.metadata.version("kiji")
    expected = f"+{home_page}" if home_page else "contact: the bot operator"
    agents = {entry.user_agent for entry in web_server.requests()}
    assert agents == {f"Kiji/{version} (Discord bot for blog articles; {expected})"}
