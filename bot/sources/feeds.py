"""Feeds as articles: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed 1.0/1.1 by hand.

feedparser is the long-kept parser that copes with the feeds found in the wild (wrong encodings,
namespaces, dates in a dozen formats). It does not read JSON Feed (6.0.x), a small format of
plain JSON, so that is read here. A page that is not a feed is looked through for the feed it
names (`<link rel="alternate">`): the home page is what people paste.

Identity (issue 22, point 6): an entry is its `id`/`guid`, else its link. Feeds that repeat or
empty ids fall back as MonitoRSS's resolver does: the first of id, link, title+date that is
present and unique across the fetch is the key of every entry in it.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urljoin
from xml.sax import SAXParseException

import feedparser
import lxml.html

from bot.content.images import first_html_image, image_url
from bot.sources.canonical import canonical_url

log = logging.getLogger(__name__)

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",
    "application/rdf+xml": "rss",
    "application/xml": "xml",
    "text/xml": "xml",
}


class FeedError(ValueError):
    """The body is not a feed Kiji can read; the message says why."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One feed entry as the feed states it, before identity is resolved."""

    id: str | None
    link: str | None
    title: str
    published: float | None
    updated: float | None
    author: str | None
    tags: tuple[str, ...]
    html: str
    summary: str | None
    image: str | None = None  # the entry's picture: its media or image enclosure, else its content's first <img>


@dataclass(frozen=True, slots=True)
class Feed:
    title: str | None
    home: str | None
    ttl_seconds: float | None
    items: tuple[FeedItem, ...]


def sniff(content_type: str, body: bytes) -> str:
    """ "json", "xml" or "html": what the body is, by its media type and, when that is vague, its start."""
    start = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if content_type in ("application/feed+json", "application/json") or start.startswith(b"{"):
        return "json"
    if content_type == "text/html" or start.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "xml"


def discover(html: bytes, base_url: str) -> str | None:
    """The address of the first RSS, Atom or JSON feed a page names in `<link rel="alternate">`."""
    try:
        document = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return None
    for link in document.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in ("application/rss+xml", "application/atom+xml", "application/feed+json"):
            href = link.get("href")
            if href:
                return urljoin(base_url, href.strip())
    return None


# The internal subset of a DOCTYPE: where entities are declared. feedparser keeps declarations whose
# values name other entities, and expat expands them up to its amplification limit (100× after the
# first 8 MiB): 650 bytes made a 1,000,000-character title. Real feeds declare none.
_INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[(.*?)\]\s*>", re.DOTALL | re.IGNORECASE)


def _declares_entities(body: bytes) -> bool:
    found = _INTERNAL_SUBSET.search(body)
    return found is not None and b"<!ENTITY" in found.group(1).upper()


def parse_feed(body: bytes, content_type: str, url: str) -> Feed:
    """Read a feed body; raises FeedError naming what is wrong with it."""
    if sniff(content_type, body) == "json":
        return _parse_json_feed(body, url)
    if _declares_entities(body):
        raise FeedError(
            "declares XML entities in its DOCTYPE; Kiji refuses them, as expanding entities of entities "
            "can take unbounded memory (no real feed needs them)"
        )
    parsed = feedparser.parse(body, response_headers={"content-type": content_type or "application/xml"})
    problem = getattr(parsed, "bozo_exception", None)
    if parsed.bozo and isinstance(problem, SAXParseException):
        # feedparser's lenient fallback still makes entries of broken XML, guessing where they end
        raise FeedError(f"is not well-formed XML (line {problem.getLineNumber()}: {problem.getMessage()})")
    if parsed.bozo and not parsed.entries and not parsed.feed:
        reason = getattr(parsed, "bozo_exception", None)
        raise FeedError(f"is not a feed Kiji can read (RSS, Atom or JSON Feed): {reason}")
    if not parsed.version:
        reason = getattr(parsed, "bozo_exception", None) or "no RSS or Atom element"
        raise FeedError(f"is not a feed Kiji can read (RSS, Atom or JSON Feed): {reason}")
    feed = parsed.feed
    ttl = feed.get("ttl")
    items = tuple(_item(entry, url) for entry in parsed.entries)
    return Feed(
        title=feed.get("title") or None,
        home=feed.get("link") or None,
        ttl_seconds=float(ttl) * 60 if ttl and str(ttl).strip().isdigit() else None,
        items=items,
    )


def _epoch(struct: object) -> float | None:
    return float(calendar.timegm(struct)) if struct else None  # type: ignore[arg-type]


def _item(entry: feedparser.FeedParserDict, base: str) -> FeedItem:
    contents = entry.get("content") or []
    html = next((c.get("value", "") for c in contents if "html" in (c.get("type") or "")), "")
    html = html or (contents[0].get("value", "") if contents else "")
    summary = entry.get("summary")
    link = entry.get("link")
    return FeedItem(
        id=(entry.get("id") or "").strip() or None,
        link=urljoin(base, link.strip()) if link else None,
        title=(entry.get("title") or "").strip(),
        published=_epoch(entry.get("published_parsed")) or _epoch(entry.get("updated_parsed")),
        updated=_epoch(entry.get("updated_parsed")),
        author=entry.get("author") or None,
        tags=tuple(dict.fromkeys(t.get("term", "").strip() for t in entry.get("tags") or [] if t.get("term"))),
        html=html or summary or "",
        summary=summary if html else None,
        image=_entry_image(entry, html or summary or "", urljoin(base, link.strip()) if link else base),
    )


def _entry_image(entry: feedparser.FeedParserDict, html: str, base: str) -> str | None:
    """Media RSS (`media:thumbnail`, an image `media:content`), an image enclosure, else the first `<img>`."""
    candidates = [media.get("url") for media in entry.get("media_thumbnail") or []]
    candidates += [
        media.get("url")
        for media in entry.get("media_content") or []
        if media.get("medium") == "image" or str(media.get("type") or "").startswith("image/")
    ]
    candidates += [
        link.get("href")
        for link in entry.get("links") or []
        if link.get("rel") == "enclosure" and str(link.get("type") or "").startswith("image/")
    ]
    candidates.append(first_html_image(html))
    return next((found for candidate in candidates if (found := image_url(candidate, base))), None)


def _iso(value: object) -> float | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _parse_json_feed(body: bytes, url: str) -> Feed:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise FeedError("is JSON but not a JSON Feed (no jsonfeed.org version)")
    items = []
    for raw in data.get("items") or []:
        if not isinstance(raw, dict):
            continue
        authors = raw.get("authors") or ([raw["author"]] if isinstance(raw.get("author"), dict) else [])
        author = next((a.get("name") for a in authors if isinstance(a, dict) and a.get("name")), None)
        link = raw.get("url") or raw.get("external_url")
        items.append(
            FeedItem(
                id=str(raw["id"]).strip() or None if raw.get("id") is not None else None,
                link=urljoin(url, link) if isinstance(link, str) and link else None,
                title=str(raw.get("title") or "").strip(),
                published=_iso(raw.get("date_published")) or _iso(raw.get("date_modified")),
                updated=_iso(raw.get("date_modified")),
                author=author,
                tags=tuple(str(tag) for tag in raw.get("tags") or [] if str(tag).strip()),
                html=str(raw.get("content_html") or ""),
                summary=str(raw["summary"]) if raw.get("summary") else None,
            )
        )
        if not items[-1].html and raw.get("content_text"):
            paragraphs = str(raw["content_text"]).split("\n\n")
            html = "".join(f"<p>{_escape(paragraph)}</p>" for paragraph in paragraphs)
            items[-1] = replace(items[-1], html=html)
        pictures = (raw.get("image"), raw.get("banner_image"), first_html_image(items[-1].html))
        page = items[-1].link or url
        items[-1] = replace(items[-1], image=next((found for p in pictures if (found := image_url(p, page))), None))
    return Feed(
        title=data.get("title") or None, home=data.get("home_page_url") or None, ttl_seconds=None, items=tuple(items)
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _title_and_date(item: FeedItem) -> str | None:
    if not item.title or item.published is None:
        return None
    return f"{item.title}\n{item.published:.0f}"


def entry_keys(items: tuple[FeedItem, ...]) -> list[str | None]:
    """Each item's identity in its blog (None: none could be found; such an entry cannot be kept).

    The first of id, link, title+date that every item has and no two share; when none is, each item
    takes the first of them it has that is unique in the fetch.
    """
    kinds = (
        lambda item: item.id,
        lambda item: canonical_url(item.link) if item.link else None,
        _title_and_date,
    )
    for kind in kinds:
        values = [kind(item) for item in items]
        if all(values) and len(set(values)) == len(values):
            return list(values)
    columns = [[kind(item) for item in items] for kind in kinds]
    keys: list[str | None] = []
    for position in range(len(items)):
        found = None
        for column in columns:
            value = column[position]
            if value and column.count(value) == 1:
                found = value
                break
        keys.append(found)
    return keys
