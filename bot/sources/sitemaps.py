"""The pages a blog lists in its sitemap: where the archive of its past posts is found.

A feed holds only the newest entries (jekyll-feed and WordPress: 10); the sitemap lists every
page. It is named by the `Sitemap:` lines of robots.txt, else it is `/sitemap.xml`; it may be an
index of further sitemaps, and any of them may be gzipped. Parsed with lxml with entities and
network access off: a sitemap is untrusted XML.
"""

from __future__ import annotations

import logging
import zlib
from urllib.parse import urljoin, urlsplit

import lxml.etree

from bot.sources.fetcher import Fetcher, FetchError

log = logging.getLogger(__name__)

MAX_SITEMAPS = 50  # sitemaps read per blog, indexes included
MAX_PAGES = 50_000  # one sitemap's limit in the protocol
_PARSER = lxml.etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)


def _gunzip(body: bytes, limit: int) -> bytes:
    if not body.startswith(b"\x1f\x8b"):
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = inflater.decompress(body, limit + 1)
    if len(data) > limit:
        raise FetchError(f"a gzipped sitemap inflates past {limit // (1024 * 1024)} MB; Kiji refuses it")
    return data


def _locs(body: bytes) -> tuple[list[str], list[str]]:
    """(pages, further sitemaps) a sitemap or sitemap index lists."""
    try:
        root = lxml.etree.fromstring(body, _PARSER)
    except lxml.etree.XMLSyntaxError:
        return [], []
    if root is None:
        return [], []
    pages: list[str] = []
    maps: list[str] = []
    index = lxml.etree.QName(root).localname == "sitemapindex"
    for loc in root.iter("{*}loc"):
        text = (loc.text or "").strip()
        if text:
            (maps if index else pages).append(text)
    return pages, maps


async def sitemap_pages(fetcher: Fetcher, home: str) -> tuple[list[str], list[str]]:
    """(page addresses on the blog's own host, problems met): every page its sitemaps list, once each."""
    parts = urlsplit(home)
    origin = f"{parts.scheme}://{parts.netloc}"
    queue = await fetcher.sitemaps_of(origin) or [urljoin(origin, "/sitemap.xml")]
    seen: set[str] = set()
    pages: dict[str, None] = {}
    problems: list[str] = []
    while queue and len(seen) < MAX_SITEMAPS:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        try:
            answer = await fetcher.get(url, accept="application/xml, text/xml")
        except FetchError as exc:
            if exc.status == 404 and not pages:
                continue  # no sitemap: the blog has only its feed
            problems.append(str(exc))
            continue
        found, further = _locs(_gunzip(answer.body, fetcher.max_body))
        for page in found[:MAX_PAGES]:
            page_parts = urlsplit(page)
            if page_parts.netloc.lower() == parts.netloc.lower() and page_parts.scheme in ("http", "https"):
                pages[page] = None
        queue.extend(urljoin(url, more) for more in further)
    return list(pages), problems
