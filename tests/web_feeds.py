"""Feeds written the way their tools write them: WordPress RSS 2.0, JSON Feed 1.1, note/Zenn-style Atom.

Each builder takes the entries to put in it, so a test can add an entry, edit one or drop one,
and serve the result again. `Entry.link` is a path on the test server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from xml.sax.saxutils import escape


@dataclass
class Entry:
    slug: str
    title: str
    html: str
    published: float = 1_750_000_000.0
    tags: tuple[str, ...] = ()
    author: str = "山田 花子"
    guid: str | None = None
    link: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def href(self, base: str) -> str:
        return base + (self.link if self.link is not None else f"/{self.slug}/")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def wordpress_rss(base: str, entries: list[Entry], title: str = "WordPress の日記") -> str:
    """RSS 2.0 as WordPress writes it: content:encoded, dc:creator, categories, guid isPermaLink=false."""
    items = []
    for entry in entries:
        guid = entry.guid if entry.guid is not None else f"{base}/?p={abs(hash(entry.slug)) % 10000}"
        categories = "".join(f"<category><![CDATA[{tag}]]></category>" for tag in entry.tags)
        items.append(
            f"<item><title>{escape(entry.title)}</title><link>{escape(entry.href(base))}</link>"
            f"<dc:creator><![CDATA[{entry.author}]]></dc:creator>"
            f"<pubDate>{formatdate(entry.published, usegmt=True)}</pubDate>{categories}"
            f'<guid isPermaLink="false">{escape(guid)}</guid>'
            f"<description><![CDATA[{entry.title}の要約]]></description>"
            f"<content:encoded><![CDATA[{entry.html}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f"<title>{escape(title)}</title><link>{base}/</link><description>日記</description>"
        "<generator>https://wordpress.org/?v=6.5</generator>" + "".join(items) + "</channel></rss>"
    )


def json_feed(base: str, entries: list[Entry], title: str = "JSON の日記") -> str:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": title,
            "home_page_url": base + "/",
            "feed_url": base + "/feed.json",
            "items": [
                {
                    "id": entry.guid if entry.guid is not None else entry.slug,
                    "url": entry.href(base),
                    "title": entry.title,
                    "content_html": entry.html,
                    "date_published": _iso(entry.published),
                    "tags": list(entry.tags),
                    "authors": [{"name": entry.author}],
                }
                for entry in entries
            ],
        },
        ensure_ascii=False,
    )


def atom_feed(base: str, entries: list[Entry], title: str = "note の記事") -> str:
    """Atom 1.0 in the style of note and Zenn: ids are the article URLs, content in <content type="html">."""
    items = "".join(
        f'<entry><title>{escape(entry.title)}</title><link rel="alternate" href="{escape(entry.href(base))}"/>'
        f"<id>{escape(entry.guid if entry.guid is not None else entry.href(base))}</id>"
        f"<published>{_iso(entry.published)}</published><updated>{_iso(entry.published)}</updated>"
        f"<author><name>{escape(entry.author)}</name></author>"
        + "".join(f'<category term="{escape(tag)}"/>' for tag in entry.tags)
        + f'<content type="html">{escape(entry.html)}</content></entry>'
        for entry in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f'<title>{escape(title)}</title><link href="{base}/"/><id>{base}/</id>'
        f"<updated>{_iso(1_760_000_000)}</updated>{items}</feed>"
    )


def home_page(feed_path: str, kind: str = "application/rss+xml", charset: str = "utf-8") -> str:
    return (
        f'<!DOCTYPE html><html lang="ja"><head><meta charset="{charset}"><title>ホーム</title>'
        f'<link rel="alternate" type="{kind}" title="feed" href="{feed_path}"></head>'
        "<body><h1>ようこそ</h1><p>ブログのホームです。</p></body></html>"
    )


def post_html(paragraphs: list[str]) -> str:
    return "".join(f"<p>{escape(text)}</p>" for text in paragraphs)
