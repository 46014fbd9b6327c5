"""A blog's web page as an article: the metadata its SEO tags state, and its main text.

Pages say what they are for search engines and social sites, and blog engines write that the
same way (jekyll-seo-tag, Hugo's templates, WordPress's Yoast): JSON-LD `BlogPosting`, Open Graph
`og:type` `article`, `article:published_time`, `<link rel="canonical">`. A page that says it is
none of these (the home, a tag list, an about page) is not a post. The main text is extracted by
trafilatura, the best measured extractor, as Markdown, so that it goes through the same cleaning
as a Markdown post's body. HTML fragments of feeds take the same road (`html_to_markdown`).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import lxml.etree
import lxml.html
import trafilatura
from charset_normalizer import from_bytes

from bot.content.article_text import DerivedText, derive_text
from bot.content.images import image_url
from bot.sources.base import Article
from bot.sources.web_markdown import markdown_of

POST_TYPES = {"blogposting", "article", "newsarticle", "techarticle", "socialmediaposting", "report"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class PageError(ValueError):
    """A page that says it is a post but lacks what a post needs (a date, a title)."""


def decode_html(body: bytes, charset: str | None) -> str:
    """The page's text: the HTTP charset, else the page's own `<meta charset>`, else a detected one.

    Japanese blogs still serve Shift_JIS and EUC-JP; read as UTF-8 they would be noise.
    """
    candidates = [charset]
    if match := _META_CHARSET.search(body[:4096]):
        candidates.append(match.group(1).decode("ascii"))
    for name in candidates:
        if not name:
            continue
        try:
            codecs.lookup(name)
            return body.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(body).best()
        return str(best) if best is not None else body.decode("utf-8", "replace")


def html_to_markdown(html: str, tree: lxml.html.HtmlElement | None = None) -> str:
    """The main text of an HTML page or fragment as Markdown-ish text (headings, lists, paragraphs).

    `tree`: the whole page as `trafilatura.load_html` parsed it, when the caller has it already (a
    page is parsed once for its metadata and its text; trafilatura copies it before it prunes). A
    whole page is first read in trafilatura's `fast` mode, without its second opinion (readability,
    jusText), a sixth of a backfill's extraction: it gave the same text on every page of the tests
    and fixtures. A feed's fragment, and a page the fast mode finds nothing in, get the second opinion.
    """
    if not html.strip():
        return ""
    document = html if "<html" in html[:2000].lower() else f"<html><body><article>{html}</article></body></html>"
    whole_page = tree is not None and document is html
    text = markdown_of(tree, fast=True) if whole_page else None
    return text or markdown_of(document, fast=False) or trafilatura.html2txt(document) or ""


def _json_ld(document: lxml.html.HtmlElement) -> Iterator[dict[str, object]]:
    for script in document.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except json.JSONDecodeError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])


def _types(item: dict[str, object]) -> set[str]:
    kind = item.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {str(k).lower() for k in kinds if k}


def _meta(document: lxml.html.HtmlElement, key: str) -> list[str]:
    return [
        str(value).strip()
        for value in document.xpath(f'//meta[@property="{key}" or @name="{key}"]/@content')
        if str(value).strip()
    ]


def _date(value: object) -> float | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _name(value: object) -> str | None:
    if isinstance(value, list):
        names = [name for name in (_name(item) for item in value) if name]
        return ", ".join(names) or None
    if isinstance(value, dict):
        return _name(value.get("name"))
    return str(value).strip() or None if isinstance(value, str) else None


def read_page(body: bytes, url: str, charset: str | None) -> Article | None:
    """The post a page holds, or None when the page says it is not a post.

    Raises PageError when it says it is a post but its date or title cannot be found.
    """
    text = decode_html(body, charset)
    # parsed as trafilatura parses, so that its extraction below reuses the tree
    document = trafilatura.load_html(text)
    if document is None:
        try:
            document = lxml.html.fromstring(text)
        except (ValueError, lxml.etree.ParserError):
            return None
    posting = next((item for item in _json_ld(document) if _types(item) & POST_TYPES), None)
    og_type = next(iter(_meta(document, "og:type")), "").lower()
    if posting is None and og_type != "article":
        return None
    posting = posting or {}
    canonical = next(iter(document.xpath('//link[@rel="canonical"]/@href')), None) or next(
        iter(_meta(document, "og:url")), None
    )
    title = (
        _name(posting.get("headline"))
        or next(iter(_meta(document, "og:title")), None)
        or (document.findtext(".//title") or "").strip()
    )
    published = (
        _date(posting.get("datePublished"))
        or _date(next(iter(_meta(document, "article:published_time")), None))
        or _date(next(iter(document.xpath("//time/@datetime")), None))
    )
    if not title:
        raise PageError("the page names no title (JSON-LD headline, og:title or <title>)")
    if published is None:
        raise PageError("the page names no date (JSON-LD datePublished, article:published_time or <time datetime>)")
    keywords = posting.get("keywords")
    tags = [*_meta(document, "article:tag")]
    if isinstance(keywords, str):
        tags += [word.strip() for word in keywords.split(",")]
    elif isinstance(keywords, list):
        tags += [str(word).strip() for word in keywords]
    tags += [str(a.text_content()).strip() for a in document.xpath('//a[contains(concat(" ", @rel, " "), " tag ")]')]
    return Article(
        title=title,
        url=str(canonical).strip() if canonical else url,
        published=published,
        body=html_to_markdown(text, document),
        author=_name(posting.get("author")) or next(iter(_meta(document, "author")), None),
        description=_name(posting.get("description")) or next(iter(_meta(document, "description")), None),
        tags=tuple(dict.fromkeys(tag for tag in tags if tag)),
        updated=_date(posting.get("dateModified")) or _date(next(iter(_meta(document, "article:modified_time")), None)),
        image=_picture(document, posting, url),
    )


def read_page_and_text(body: bytes, url: str, charset: str | None) -> tuple[Article | None, DerivedText | None]:
    """`read_page`, and the post's cleaned text and tokens: one call to a worker does both.

    The article's text then crosses between processes once, with what is derived from it, instead
    of going back to a worker to be cleaned.
    """
    article = read_page(body, url, charset)
    return article, derive_text(article.title, article.body) if article is not None else None


def _picture(document: lxml.html.HtmlElement, posting: dict[str, object], url: str) -> str | None:
    """The page's picture: `og:image`, else `twitter:image`, JSON-LD `image`, the article's first `<img>`."""
    stated = [*_meta(document, "og:image"), *_meta(document, "og:image:url"), *_meta(document, "twitter:image")]
    stated += [_json_ld_image(posting.get("image"))]
    stated += [str(src) for src in document.xpath("(//article//img/@src | //main//img/@src)[1]")]
    return next((found for candidate in stated if (found := image_url(candidate, url))), None)


def _json_ld_image(value: object) -> str | None:
    """JSON-LD's `image`: a URL, an ImageObject (its `url`), or a list of either (the first)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl")
    return value if isinstance(value, str) else None
