"""Who a feed entry is, when the feed does not say it well, and what an edit changes.

Feeds in the wild repeat one guid for every entry, leave ids empty, or point every link at the
home page; MonitoRSS's resolver takes the first of id, link, title+date that is present and unique
in the fetch. Each case is a real feed served on 127.0.0.1 and read by `kiji ingest`.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_web_cli import BODY, ingest, posts
from web_feeds import Entry, post_html, wordpress_rss
from web_server import WebServer

from bot.services.summaries import SummaryService
from bot.store import Store

RSS = "application/rss+xml; charset=UTF-8"
OTHER_BODY = [
    "量子計算の実用化はまだ先ですが、暗号の移行計画は今から始めるべきだと専門家は指摘しています。",
    "金融機関では、耐量子暗号への切り替え試験がすでに始まりました。移行には数年かかる見込みです。",
    "まずは社内で使っている暗号方式の棚卸しから着手し、影響の大きい順に置き換えていきます。",
]


def three(guid: str | None = None, link: str | None = None) -> list[Entry]:
    return [
        Entry(f"post-{n}", f"記事その{n}", post_html(BODY), 1_750_000_000.0 + n * 86400, guid=guid, link=link)
        for n in range(3)
    ]


def serve(server: WebServer, entries: list[Entry]) -> None:
    server.put("/feed", wordpress_rss(server.base, entries), RSS)


def added(result: object) -> int:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return int(json.loads(result.stdout)["added"])  # type: ignore[attr-defined]


def test_a_feed_repeating_one_guid_is_keyed_by_link(web_server: WebServer, tmp_path: Path) -> None:
    entries = three(guid="https://example.com/?p=1")
    serve(web_server, entries)
    assert added(ingest(web_server.url("/feed"), tmp_path, "--json")) == 3
    entries.append(Entry("post-new", "新しい記事", post_html(BODY[::-1]), 1_760_000_000.0, guid=entries[0].guid))
    serve(web_server, entries)
    assert added(ingest(web_server.url("/feed"), tmp_path, "--json")) == 1
    assert sorted(post["title"] for post in posts(tmp_path)) == ["新しい記事", "記事その0", "記事その1", "記事その2"]


def test_a_feed_with_empty_ids_and_one_link_is_keyed_by_title_and_date(web_server: WebServer, tmp_path: Path) -> None:
    entries = three(guid="", link="/")
    serve(web_server, entries)
    assert added(ingest(web_server.url("/feed"), tmp_path, "--json")) == 3
    entries.append(Entry("post-new", "新しい記事", post_html(BODY[::-1]), 1_760_000_000.0, guid="", link="/"))
    serve(web_server, entries)
    assert added(ingest(web_server.url("/feed"), tmp_path, "--json")) == 1
    stored = posts(tmp_path)
    assert sorted(post["title"] for post in stored) == ["新しい記事", "記事その0", "記事その1", "記事その2"]


def test_an_entry_keeps_its_post_when_the_feed_starts_repeating_ids(web_server: WebServer, tmp_path: Path) -> None:
    """Unique guids first; then a new entry repeats one: the keys fall back to links, the posts stay."""
    entries = [Entry(f"post-{n}", f"記事その{n}", post_html(BODY), 1_750_000_000.0 + n, guid=f"g{n}") for n in range(3)]
    serve(web_server, entries)
    assert added(ingest(web_server.url("/feed"), tmp_path, "--json")) == 3
    before = {post["title"]: post["id"] for post in posts(tmp_path)}
    entries.append(Entry("post-new", "新しい記事", post_html(BODY[::-1]), 1_760_000_000.0, guid="g0"))
    serve(web_server, entries)
    result = ingest(web_server.url("/feed"), tmp_path, "--json")
    assert added(result) == 1 and json.loads(result.stdout)["updated"] == 0
    after = {post["title"]: post["id"] for post in posts(tmp_path)}
    assert {title: after[title] for title in before} == before


async def test_an_edited_entry_gets_a_new_summary(web_server: WebServer, tmp_path: Path) -> None:
    """The summary people see follows the edit: the cached one is made again from the new text."""
    entries = [Entry("edited", "書き直される記事", post_html(BODY), guid="tag:example.com,2025:1")]
    serve(web_server, entries)
    assert added(ingest(web_server.url("/feed"), tmp_path, "--json")) == 1
    [stored] = posts(tmp_path)
    store = await Store.open(tmp_path / "kiji.db")
    try:
        post = await store.get_post(int(stored["id"]))
        assert post is not None
        before = (await SummaryService(store).shown(post, "short")).text
    finally:
        await store.close()
    assert "生成AI" in before or "三か月" in before or "次の段階" in before

    entries[0].html = post_html(OTHER_BODY)
    serve(web_server, entries)
    result = ingest(web_server.url("/feed"), tmp_path, "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["updated"] == 1
    store = await Store.open(tmp_path / "kiji.db")
    try:
        post = await store.get_post(int(stored["id"]))
        assert post is not None
        after = (await SummaryService(store).shown(post, "short")).text
    finally:
        await store.close()
    assert after != before
    assert any(fragment in after for fragment in ("量子", "耐量子", "暗号"))
    assert not any(fragment in after for fragment in ("生成AI", "三か月", "次の段階"))
