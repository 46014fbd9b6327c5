"""feedparser against fastfeedparser on every feed fixture: `python -m bench.feed_parsers`.

fastfeedparser (lxml and a compiled core) says it is many times faster than feedparser. Kiji would
switch only if it reads every feed the same, field by field, as Kiji reads it (`feeds.FeedItem`:
id, link, title, published, updated, author, tags, html, summary; and the feed's title, home
and ttl) and refuses the same broken ones — and is faster. The feeds: the built jekyll (Atom)
and hugo (RSS 2.0) fixtures, the hand-written WordPress RSS, note/Zenn-style Atom, RSS 1.0 (RDF)
and the hostile cases of the tests (malformed XML, legacy Japanese encodings, entries without a
date, repeated and empty ids, an entity-expansion bomb). JSON Feed is not compared: Kiji reads
it by hand. fastfeedparser must be installed (`pip install fastfeedparser`); it is not a dependency.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from bench._common import ROOT, Row, base_parser, emit, verdict

BASE = "http://blog.test"
FEED_URL = BASE + "/feed"
PARAGRAPHS = ["ウェブのブログの記事です。", "段落が二つあります。"]
BOMB = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
    '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>'
    '<rss version="2.0"><channel><title>bomb</title><item><title>&f;</title><link>http://blog.test/x</link>'
    "<pubDate>Mon, 01 Sep 2025 00:00:00 GMT</pubDate></item></channel></rss>"
)
RDF = (
    '<?xml version="1.0" encoding="UTF-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel rdf:about="http://blog.test/">'
    "<title>はてなの日記</title><link>http://blog.test/</link><description>d</description></channel>"
    '<item rdf:about="http://blog.test/entry/1"><title>RDF の記事</title><link>http://blog.test/entry/1</link>'
    "<dc:date>2025-09-01T09:00:00+09:00</dc:date><dc:creator>山田</dc:creator><dc:subject>生成AI</dc:subject>"
    "<description>要約</description><content:encoded><![CDATA[<p>本文です。</p>]]></content:encoded></item></rdf:RDF>"
)


def feeds() -> dict[str, tuple[bytes, str]]:
    """name → (body, content type) of every feed compared."""
    sys.path.insert(0, str(ROOT / "tests"))
    from web_feeds import Entry, atom_feed, post_html, wordpress_rss

    web = ROOT / "tests" / "fixtures" / "web"
    html = post_html(PARAGRAPHS)
    entries = [
        Entry(f"post-{n}", f"記事その{n}", html, 1_750_000_000.0 + n * 86400, tags=("生成AI", "LLM")) for n in range(10)
    ]
    wordpress = wordpress_rss(BASE, entries)
    rss = "application/rss+xml"
    found = {
        "jekyll feed.xml (Atom, jekyll-feed)": ((web / "jekyll" / "feed.xml").read_bytes(), "application/atom+xml"),
        "hugo index.xml (RSS 2.0)": ((web / "hugo" / "index.xml").read_bytes(), rss),
        "WordPress RSS 2.0": (wordpress.encode(), rss),
        "note/Zenn-style Atom": (atom_feed(BASE, entries).encode(), "application/atom+xml"),
        "RSS 1.0 (RDF, Hatena-style)": (RDF.encode(), "application/rdf+xml"),
        "hostile: malformed XML": (b"<rss><channel><item><title>broken", rss),
        "hostile: no pubDate": (wordpress.replace("<pubDate>", "<x>").replace("</pubDate>", "</x>").encode(), rss),
        "hostile: one guid repeated": (
            wordpress_rss(BASE, [Entry(e.slug, e.title, html, e.published, guid="same") for e in entries]).encode(),
            rss,
        ),
        "hostile: empty ids, one link": (
            wordpress_rss(
                BASE, [Entry(e.slug, e.title, html, e.published, guid="", link="/") for e in entries]
            ).encode(),
            rss,
        ),
        "hostile: entity expansion bomb": (BOMB.encode(), rss),
    }
    for encoding in ("shift_jis", "euc_jp"):
        body = wordpress.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode(encoding)
        found[f"hostile: {encoding} declared in XML only"] = (body, rss)
    return found


def _iso(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def fast_feed(body: bytes, url: str) -> Any:
    """fastfeedparser's reading as a Kiji `Feed`, mapped the way `feeds._item` maps feedparser's."""
    import fastfeedparser

    from bot.sources.feeds import Feed, FeedItem

    parsed = fastfeedparser.parse(body)
    items = []
    for entry in parsed.get("entries") or []:
        contents = entry.get("content") or []
        html = next((c.get("value", "") for c in contents if "html" in (c.get("type") or "")), "")
        html = html or (contents[0].get("value", "") if contents else "")
        summary = entry.get("description") or None
        link = entry.get("link")
        items.append(
            FeedItem(
                id=(entry.get("id") or "").strip() or None,
                link=urljoin(url, link.strip()) if link else None,
                title=(entry.get("title") or "").strip(),
                published=_iso(entry.get("published")) or _iso(entry.get("updated")),
                updated=_iso(entry.get("updated")),
                author=entry.get("author") or None,
                tags=tuple(dict.fromkeys(t.get("term", "").strip() for t in entry.get("tags") or [] if t.get("term"))),
                html=html or summary or "",
                summary=summary if html else None,
            )
        )
    feed = parsed.get("feed") or {}
    ttl = feed.get("ttl")
    return Feed(
        title=feed.get("title") or None,
        home=feed.get("link") or None,
        ttl_seconds=float(ttl) * 60 if ttl and str(ttl).strip().isdigit() else None,
        items=tuple(items),
    )


def outcome(read: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "feed", read()
    except Exception as exc:  # either parser's refusal, whatever its type
        return "refused", f"{type(exc).__name__}: {str(exc)[:120]}"


def differences(ours: tuple[str, Any], theirs: tuple[str, Any]) -> list[str]:
    """What differs, field by field: '<field>: feedparser … / fastfeedparser …'."""
    if ours[0] != theirs[0]:
        return [
            f"outcome: feedparser {ours[0]} ({str(ours[1])[:80]}) / fastfeedparser {theirs[0]} ({str(theirs[1])[:80]})"
        ]
    if ours[0] == "refused":
        return []
    a, b = ours[1], theirs[1]
    found = [
        f"feed {name}: {getattr(a, name)!r} / {getattr(b, name)!r}"
        for name in ("title", "home", "ttl_seconds")
        if getattr(a, name) != getattr(b, name)
    ]
    if len(a.items) != len(b.items):
        return [*found, f"entries: {len(a.items)} / {len(b.items)}"]
    for number, (x, y) in enumerate(zip(a.items, b.items, strict=True)):
        for field in fields(x):
            left, right = getattr(x, field.name), getattr(y, field.name)
            if left != right:
                found.append(f"entry {number} {field.name}: {str(left)[:60]!r} / {str(right)[:60]!r}")
    return found


def summary(diff: list[str]) -> str:
    """The fields that differ, each with how many entries it differs in."""
    counts: dict[str, int] = {}
    for line in diff:
        head = line.split(":", 1)[0].split()
        field = head[-1] if head[0] == "entry" else " ".join(head)
        counts[field] = counts.get(field, 0) + 1
    return ", ".join(f"{field} ×{count}" for field, count in counts.items())


def per_call(read: Callable[[], Any], budget_s: float = 0.5) -> float:
    """Seconds per call, the best of three runs of as many calls as fit in `budget_s`."""
    calls = 1
    started = time.perf_counter()
    outcome(read)
    once = max(time.perf_counter() - started, 1e-6)
    calls = max(1, int(budget_s / once))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            outcome(read)
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def measure() -> tuple[list[Row], dict[str, object]]:
    from bot.sources.feeds import parse_feed

    rows: list[Row] = []
    raw: dict[str, object] = {}
    equal_everywhere = True
    total_old = total_new = 0.0
    for name, (body, kind) in feeds().items():
        ours = outcome(lambda body=body, kind=kind: parse_feed(body, kind, FEED_URL))
        theirs = outcome(lambda body=body: fast_feed(body, FEED_URL))
        diff = differences(ours, theirs)
        equal_everywhere = equal_everywhere and not diff
        old = per_call(lambda body=body, kind=kind: parse_feed(body, kind, FEED_URL))
        new = per_call(lambda body=body: fast_feed(body, FEED_URL))
        total_old, total_new = total_old + old, total_new + new
        rows.append(
            Row(
                name,
                f"{new * 1000:.2f} ms",
                baseline=f"{old * 1000:.2f} ms",
                ratio=f"{new / old:.2f}",
                target="same fields",
                result=verdict(not diff) + (f" ({len(diff)} differences: {summary(diff)})" if diff else ""),
            )
        )
        raw[name] = {
            "feedparser_s": old,
            "fastfeedparser_s": new,
            "differences": diff,
            "feedparser": asdict(ours[1]) if ours[0] == "feed" else ours[1],
        }
    rows.append(
        Row(
            "all feeds, time per pass",
            f"{total_new * 1000:.2f} ms",
            baseline=f"{total_old * 1000:.2f} ms",
            ratio=f"{total_new / total_old:.2f}",
            target="equal on every file and faster",
            result=verdict(equal_everywhere and total_new < total_old),
        )
    )
    return rows, raw


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--show", action="store_true", help="print every difference")
    args = parser.parse_args(argv)
    try:
        import fastfeedparser  # noqa: F401
    except ImportError:
        print("fastfeedparser is not installed: pip install fastfeedparser", file=sys.stderr)
        return 2
    rows, raw = measure()
    emit("feedparser against fastfeedparser (Kiji's fields)", rows, raw, args.json)
    if args.show:
        for name, found in raw.items():
            for line in found["differences"]:  # type: ignore[index]
                print(f"{name}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
