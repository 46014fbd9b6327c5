"""`kiji ingest --source http://…` as a user runs it, against a real HTTP server on 127.0.0.1.

The blogs are real formats: a site built by Debian's jekyll (jekyll-feed, jekyll-seo-tag,
jekyll-sitemap) and by hugo, committed under tests/fixtures/web; a WordPress RSS 2.0, a JSON
Feed 1.1 and a note/Zenn-style Atom feed written by tests/web_feeds.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from web_feeds import Entry, atom_feed, home_page, json_feed, post_html, wordpress_rss
from web_server import FIXTURES, WebServer

REPO = Path(__file__).resolve().parents[3]
BODY = [
    "生成AIの導入は、まず小さな業務から始めるのが定石です。社内の問い合わせ対応に使った例を紹介します。",
    "三か月の試行で、回答までの時間はおよそ半分になりました。担当者の負担も目に見えて減っています。",
    "次の段階では、社内文書の検索と要約を組み合わせる予定です。費用と効果を毎月見直していきます。",
]


def kiji(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment.update({"PYTHONPATH": str(REPO), "KIJI_DATA_DIR": str(data_dir), "KIJI_FETCH_RATE": "1000"})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=REPO, env=environment, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def ingest(source: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return kiji("ingest", "--source", source, "--db", str(tmp_path / "kiji.db"), *extra, data_dir=tmp_path / "data")


def posts(tmp_path: Path) -> list[dict[str, object]]:
    result = kiji("posts", "--db", str(tmp_path / "kiji.db"), "--json", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def first_seen(tmp_path: Path) -> dict[str, float]:
    with sqlite3.connect(tmp_path / "kiji.db") as db:
        return dict(db.execute("SELECT title, first_seen_at FROM posts"))


def test_a_jekyll_blog_by_its_home_page_fills_the_archive_silently(web_server: WebServer, tmp_path: Path) -> None:
    web_server.serve_site(FIXTURES / "jekyll")
    result = ingest(web_server.url("/"), tmp_path)
    assert result.returncode == 0, result.stderr
    stored = posts(tmp_path)
    titles = {post["title"] for post in stored}
    assert len(stored) == 4  # the four posts; not the home or about page
    assert "2026年パナソニック コネクト「ConnectAI」など生成AIの企業導入事の最新動向と企業への影響" in titles
    assert {post["url"] for post in stored} == {
        web_server.url(path) for path in web_server.replies if path.startswith("/2025/")
    }
    # every page was fetched once, the feed and the sitemap once
    pages = [entry.path for entry in web_server.requests() if entry.path.startswith("/2025/")]
    assert sorted(pages) == sorted(set(pages)) and len(pages) == 4
    assert all(entry.user_agent and entry.user_agent.startswith("Kiji/") for entry in web_server.requests())
    search = kiji("search", "ConnectAI", "--db", str(tmp_path / "kiji.db"), "--json", data_dir=tmp_path / "data")
    assert search.returncode == 0, search.stderr
    assert any("ConnectAI" in hit["title"] for hit in json.loads(search.stdout))
    tags = kiji("tags", "--db", str(tmp_path / "kiji.db"), "--json", data_dir=tmp_path / "data")
    assert "OpenAI" in {tag["tag"] for tag in json.loads(tags.stdout)}


def test_a_second_run_asks_with_validators_and_adds_exactly_the_new_entry(
    web_server: WebServer, tmp_path: Path
) -> None:
    entries = [Entry(f"post-{n}", f"記事その{n}", post_html(BODY), 1_750_000_000.0 + n * 86400) for n in range(3)]
    web_server.put("/", home_page("/feed/"))
    web_server.put("/feed/", wordpress_rss(web_server.base, entries), "application/rss+xml; charset=UTF-8")
    assert ingest(web_server.url("/"), tmp_path).returncode == 0
    assert len(posts(tmp_path)) == 3

    unchanged = ingest(web_server.url("/"), tmp_path)
    assert unchanged.returncode == 0, unchanged.stderr
    feed_asks = web_server.requests("/feed/")
    assert feed_asks[-1].status == 304 and feed_asks[-1].if_none_match
    assert len(web_server.requests("/")) == 1  # the feed's address was remembered

    entries.append(Entry("post-new", "新しい記事", post_html(BODY[::-1]), 1_760_000_000.0, tags=("AI",)))
    web_server.put("/feed/", wordpress_rss(web_server.base, entries), "application/rss+xml; charset=UTF-8")
    result = ingest(web_server.url("/"), tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 1
    assert len(posts(tmp_path)) == 4
    seen = first_seen(tmp_path)
    assert seen["新しい記事"] > max(seen[f"記事その{n}"] for n in range(3))


def test_an_edited_entry_updates_its_post_without_a_new_one(web_server: WebServer, tmp_path: Path) -> None:
    entries = [Entry("first", "最初の記事", post_html(BODY), guid="tag:zenn.dev,2025:1")]
    web_server.put("/feed", atom_feed(web_server.base, entries), "application/atom+xml")
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 0
    before = posts(tmp_path)
    entries[0].title = "最初の記事（改訂版）"
    entries[0].html = post_html([*BODY, "追記：費用の内訳を加えました。"])
    web_server.put("/feed", atom_feed(web_server.base, entries), "application/atom+xml")
    result = ingest(web_server.url("/feed"), tmp_path, "--json")
    assert json.loads(result.stdout)["updated"] == 1 and json.loads(result.stdout)["added"] == 0
    after = posts(tmp_path)
    assert [post["id"] for post in after] == [post["id"] for post in before]
    assert after[0]["title"] == "最初の記事（改訂版）"
    search = kiji("search", "内訳", "--db", str(tmp_path / "kiji.db"), "--json", data_dir=tmp_path / "data")
    assert [hit["id"] for hit in json.loads(search.stdout)] == [before[0]["id"]]


def test_an_entry_that_leaves_the_feed_stays(web_server: WebServer, tmp_path: Path) -> None:
    entries = [Entry(f"p{n}", f"記事{n}", post_html(BODY), 1_750_000_000.0 + n) for n in range(2)]
    web_server.put("/feed.json", json_feed(web_server.base, entries), "application/feed+json")
    assert ingest(web_server.url("/feed.json"), tmp_path).returncode == 0
    web_server.put("/feed.json", json_feed(web_server.base, entries[1:]), "application/feed+json")
    assert ingest(web_server.url("/feed.json"), tmp_path).returncode == 0
    assert {post["title"] for post in posts(tmp_path)} == {"記事0", "記事1"}


def test_a_permanent_redirect_of_the_feed_is_remembered(web_server: WebServer, tmp_path: Path) -> None:
    entries = [Entry("a", "移転前の記事", post_html(BODY))]
    web_server.put("/old.xml", wordpress_rss(web_server.base, entries), "application/rss+xml")
    assert ingest(web_server.url("/old.xml"), tmp_path).returncode == 0
    web_server.put("/new.xml", wordpress_rss(web_server.base, entries), "application/rss+xml")
    web_server.redirect("/old.xml", "/new.xml", 301)
    assert ingest(web_server.url("/old.xml"), tmp_path).returncode == 0
    assert ingest(web_server.url("/old.xml"), tmp_path).returncode == 0
    assert len(web_server.requests("/old.xml")) == 2  # the first read, and the one that met the 301
    assert len(web_server.requests("/new.xml")) == 2
    assert len(posts(tmp_path)) == 1


def test_hugo_pages_and_feed_are_one_post_each(web_server: WebServer, tmp_path: Path) -> None:
    web_server.serve_site(FIXTURES / "hugo")
    result = ingest(web_server.url("/"), tmp_path)
    assert result.returncode == 0, result.stderr
    stored = posts(tmp_path)
    assert len(stored) == 2  # tag and category pages of the sitemap are not posts
    assert all(post["tags"] for post in stored)
    assert not any(value for value in first_seen(tmp_path).values() if value == 0)  # feed entries, not archive


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        (lambda s: None, "answered 404"),
        (lambda s: s.fail("/feed", 410), "removed it for good"),
        (lambda s: s.fail("/feed", 500), "the server is failing"),
        (lambda s: s.put("/feed", "<rss><channel><item><title>broken", "application/rss+xml"), "not well-formed XML"),
        (lambda s: s.put("/feed", home_page("/nowhere").replace("alternate", "stylesheet")), "names no feed"),
        (lambda s: (s.redirect("/feed", "/loop"), s.redirect("/loop", "/feed")), "redirects in a loop"),
        (lambda s: [s.redirect(f"/feed{'x' * n}", f"/feed{'x' * (n + 1)}") for n in range(7)], "more than 5"),
        (lambda s: s.redirect("/feed", "ftp://127.0.0.1/feed"), "only http and https"),
        (
            lambda s: s.put(
                "/feed",
                wordpress_rss(s.base, [Entry("a", "日付なし", "<p>x</p>")])
                .replace("<pubDate>", "<x>")
                .replace("</pubDate>", "</x>"),
                "application/rss+xml",
            ),
            "has no date",
        ),
        (
            lambda s: s.put(
                "/feed",
                json.dumps(
                    {
                        "version": "https://jsonfeed.org/version/1.1",
                        "title": "t",
                        "items": [
                            {
                                "id": "1",
                                "title": "リンクなし",
                                "content_html": "<p>x</p>",
                                "date_published": "2025-01-01T00:00:00Z",
                            }
                        ],
                    }
                ),
                "application/feed+json",
            ),
            "has no link",
        ),
    ],
    ids=[
        "404",
        "410",
        "500",
        "malformed-xml",
        "page-without-feed",
        "redirect-loop",
        "too-many-redirects",
        "not-http",
        "no-date",
        "no-link",
    ],
)
def test_a_bad_source_ends_the_ingest_with_one_line_saying_what_to_do(
    web_server: WebServer, tmp_path: Path, setup: object, said: str
) -> None:
    setup(web_server)  # type: ignore[operator]
    result = ingest(web_server.url("/feed"), tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert said in lines[0] and "Traceback" not in result.stderr


def test_a_gone_feed_stops_the_source(web_server: WebServer, tmp_path: Path) -> None:
    web_server.fail("/feed", 410)
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 2
    again = ingest(web_server.url("/feed"), tmp_path)
    assert again.returncode == 2 and "410" in again.stderr
    assert len(web_server.requests("/feed")) == 1  # stopped: not asked again


def test_a_body_over_the_limit_is_refused(web_server: WebServer, tmp_path: Path) -> None:
    web_server.put("/feed", b"<rss>" + b" " * (21 * 1024 * 1024) + b"</rss>", "application/rss+xml")
    result = ingest(web_server.url("/feed"), tmp_path)
    assert result.returncode == 2 and "larger than 20 MB" in result.stderr


@pytest.mark.parametrize("encoding", ["shift_jis", "euc_jp"])
def test_japanese_legacy_encodings_are_read_right(web_server: WebServer, tmp_path: Path, encoding: str) -> None:
    entries = [Entry("sjis", "日本語の題名", post_html(BODY), tags=("生成AI",))]
    feed = wordpress_rss(web_server.base, entries).replace('encoding="UTF-8"', f'encoding="{encoding}"')
    web_server.put("/feed", feed.encode(encoding), "application/rss+xml")
    web_server.put("/", home_page("/feed", charset=encoding).encode(encoding), "text/html")
    result = ingest(web_server.url("/"), tmp_path)
    assert result.returncode == 0, result.stderr
    [post] = posts(tmp_path)
    assert post["title"] == "日本語の題名" and post["tags"] == ["生成AI"]


def test_a_feed_declaring_xml_entities_is_refused_before_they_are_expanded(
    web_server: WebServer, tmp_path: Path
) -> None:
    """Entities of entities: 650 bytes of feed would make a title of 1,000,000 characters."""
    tens = "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abc", "bcd", strict=True))
    doctype = f'<!DOCTYPE rss [<!ENTITY a "xxxxxxxxxx">{tens}]>'
    feed = wordpress_rss(web_server.base, [Entry("a", "TITLE", "<p>本文です。</p>")])
    feed = feed.replace("?>\n<rss", f"?>{doctype}<rss", 1).replace("TITLE", "&d;" * 100, 1)
    assert doctype in feed
    web_server.put("/feed", feed, "application/rss+xml")
    result = ingest(web_server.url("/feed"), tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "declares XML entities" in lines[0], result.stderr
