"""A post's picture: the address of the image a card shows beside its summary.

Where a post's image comes from depends on its source (front matter `image`, a page's
`og:image`, a feed's media), but every candidate ends here: resolved against the page it
belongs to, and kept only when Discord could fetch it — an absolute http(s) address with a host,
no credentials in it, percent-encoded, at most Discord's 2,048 characters. Anything else is
dropped (None), never an error: a post without a usable picture is still a post.

The body's first image is looked for in what a reader sees: after the cleaner's pre-pass (HTML
comments, scripts, Liquid comments and highlighted code gone) and outside code blocks and code
spans, so an image shown as an example of Markdown is not taken for the post's picture.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from bot.content.markdown_blocks import prepass

# Discord's limit on an unfurled media (and embed thumbnail) URL.
MAX_IMAGE_URL = 2048
# Characters kept as they are in a path or query; everything else (spaces, non-ASCII) is
# percent-encoded, as jekyll-seo-tag's `uri_escape` does. '%' is kept: an address already encoded
# stays as it is.
_SAFE = "/%:@!$&'()*+,;=-._~?"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The common case, already as Discord wants it: no parsing needed (a host in lower case, no port,
# no fragment, nothing to encode).
_PLAIN = re.compile(r"https?://[a-z0-9][a-z0-9.-]*(?:/[A-Za-z0-9/._~%!$&'()*+,;=:@?-]*)?\Z")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+).+?\1")
# ![alt](src "title") or ![alt](<src with spaces>), and <img … src="…">
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]\n]*\]\(\s*(?:<([^>\n]+)>|([^)\s]+))[^)\n]*\)")
_HTML_IMAGE = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
# Liquid that Jekyll posts commonly put before an image's path; the cleaner's pre-pass drops
# every other Liquid tag, which would leave these paths wrong.
_SITE_VARIABLE = re.compile(r"\{\{-?\s*site\.(url|baseurl)\s*-?\}\}")


def image_url(candidate: object, base: str | None = None) -> str | None:
    """`candidate` as an address Discord can show, resolved against `base`; None when it is not one."""
    if not isinstance(candidate, str):
        return None
    raw = candidate.strip()
    if _PLAIN.match(raw):
        return raw if len(raw) <= MAX_IMAGE_URL else None
    if not raw or len(raw) > 4 * MAX_IMAGE_URL or _CONTROL.search(raw):
        return None
    try:
        joined = urljoin(base, raw) if base else raw
        parts = urlsplit(joined)
        host = parts.hostname
        port = parts.port  # raises ValueError on a port that is no number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or parts.username or parts.password:
        return None
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    url = urlunsplit((parts.scheme.lower(), netloc, quote(parts.path, safe=_SAFE), quote(parts.query, safe=_SAFE), ""))
    return url if len(url) <= MAX_IMAGE_URL else None


def front_matter_image(value: object) -> str | None:
    """The path a front matter `image` names: a string, or a mapping's `path` (jekyll-seo-tag's forms).

    jekyll-seo-tag reads `image.path`, else `image.facebook`, else `image.twitter`.
    """
    if isinstance(value, dict):
        value = next((value[key] for key in ("path", "facebook", "twitter") if isinstance(value.get(key), str)), None)
    return value.strip() or None if isinstance(value, str) else None


def first_body_image(body: str, site_url: str = "", baseurl: str = "") -> str | None:
    """The source of the first image a reader sees in a Markdown (or HTML) body, as written.

    `{{ site.url }}` and `{{ site.baseurl }}` in it are the site's values; the result still has
    to go through `image_url` against the page's address.
    """
    if "![" not in body and "<img" not in body and "<IMG" not in body:
        return None  # most bodies: no pre-pass needed
    if "{{" in body:
        body = _SITE_VARIABLE.sub(lambda m: site_url if m.group(1) == "url" else baseurl, body)
    in_fence = ""
    for line in prepass(body).split("\n"):
        fence = _FENCE.match(line)
        if fence:
            mark = fence.group(1)
            if not in_fence:
                in_fence = mark
            elif mark[0] == in_fence[0] and len(mark) >= len(in_fence):
                in_fence = ""
            continue
        if in_fence or ("![" not in line and "<" not in line):
            continue
        line = _CODE_SPAN.sub("", line)
        markdown, tag = _MARKDOWN_IMAGE.search(line), _HTML_IMAGE.search(line)
        if tag and (markdown is None or tag.start() < markdown.start()):
            return _source(tag)
        if markdown:
            return next(group for group in markdown.groups() if group is not None).strip() or None
    return None


def first_html_image(html: str) -> str | None:
    """The source of the first `<img>` of an HTML fragment (a feed entry's content), as written."""
    found = _HTML_IMAGE.search(html) if "<img" in html or "<IMG" in html else None
    return _source(found) if found else None


def _source(tag: re.Match[str]) -> str | None:
    """An `<img>`'s src, its character references read (`&amp;` is `&`)."""
    return html.unescape(next(group for group in tag.groups() if group is not None)).strip() or None
