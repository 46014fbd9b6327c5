"""Slugs, permalinks and absolute URLs built the way Jekyll 4.3 builds them.

Kiji links readers to the published blog, so a post's URL and id must be the very ones Jekyll
produced (Utils.slugify, URL#generate_url_from_drop, UrlDrop, the `absolute_url` filter with
Addressable's normalisation); anything else is a dead link.

Known disagreements left alone, each rare and checked against real Jekyll 4.3.1: "?" in a
category used in a URL (Jekyll leaves it unescaped), and absolute URLs of compatibility
characters ("ＡＢＣ", "ｶﾀ"), which Debian's Addressable 2.8.1 NFKC-normalises while 2.8.2 and
later, like Kiji, use NFC.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, unquote_to_bytes

from bot.sources.post_error import PostError
from bot.sources.ruby_text import ruby_capitalize, ruby_lower
from bot.sources.site_config import MARKDOWN_EXTS, Site

# jekyll-sass-converter, which Jekyll 4 always loads, turns these into .css.
_SASS_EXTS = frozenset({".sass", ".scss"})
_PLACEHOLDER = re.compile(r":([a-z_]+)")
_ESCAPE_FAST = re.compile(r"[a-zA-Z0-9./-]+\Z")
# (urllib's quote always keeps ASCII letters, digits and "-._~".)
_PCHAR = "!$&'()*+,;=:@"
_URL_SAFE = _PCHAR + "/"
_ASCII_SLUG = {
    "default": re.compile(r"[^A-Za-z0-9]+"),
    "pretty": re.compile(r"[^A-Za-z0-9._~!$&'()+,;=@]+"),
}
_PRETTY_KEEP = frozenset("._~!$&'()+,;=@")

_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def slugify(text: str, mode: str = "default", cased: bool = False) -> str:
    """Jekyll's Utils.slugify for the `default` and `pretty` modes it uses in URLs."""
    if text.isascii():  # for ASCII, \p{L}\p{M}\p{Nd} is just letters and digits
        slug = _ASCII_SLUG["pretty" if mode == "pretty" else "default"].sub("-", text)
        if slug.startswith("-"):
            slug = slug[1:]
        if slug.endswith("-"):
            slug = slug[:-1]
        return slug if cased else slug.lower()
    out: list[str] = []
    pending = False
    pretty = mode == "pretty"
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LM" or cat == "Nd" or (pretty and ch in _PRETTY_KEEP):
            if pending:
                out.append("-")
                pending = False
            out.append(ch)
        else:
            pending = True
    if pending:
        out.append("-")
    slug = "".join(out)
    if slug.startswith("-"):
        slug = slug[1:]
    if slug.endswith("-"):
        slug = slug[:-1]
    return slug if cased else ruby_lower(slug)


def titleize_slug(slug: str) -> str:
    """Utils.titleize_slug: Ruby's split drops trailing empty parts, and capitalize lowers the rest."""
    parts = slug.split("-")
    while parts and not parts[-1]:
        parts.pop()
    return " ".join(ruby_capitalize(part) for part in parts)


def escape_path(value: str) -> str:
    """Jekyll's URL.escape_path: percent-encode UTF-8 bytes outside RFC 3986 pchar and "/"."""
    if not value or _ESCAPE_FAST.match(value):
        return value
    return _encode(value, _URL_SAFE)


def _encode(value: str, safe: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe=safe)


def _normalize_path(path: str) -> str:
    """Addressable's path normalisation (what Jekyll's absolute_url applies): NFC, pchar-encoded."""
    segments = []
    for segment in path.split("/"):
        raw = unquote_to_bytes(segment) if "%" in segment else segment.encode("utf-8", "surrogatepass")
        try:
            text = unicodedata.normalize("NFC", raw.decode("utf-8"))
        except UnicodeDecodeError:
            segments.append(quote(raw, safe=_PCHAR))
            continue
        segments.append(_encode(text, _PCHAR))
    return "/".join(segments)


def absolute_url(site: Site, url: str) -> str:
    """Jekyll's `absolute_url` filter: site url + baseurl + url, normalised by Addressable."""
    baseurl = site.baseurl[:-1] if site.baseurl.endswith("/") else site.baseurl
    parts = [p if not p or p.startswith("/") else "/" + p for p in (baseurl, url)]
    relative = _normalize_path("".join(parts))
    if not site.url:
        return relative
    base = site.url
    scheme, sep, rest = base.partition("://")
    if sep:
        host, slash, host_path = rest.partition("/")
        base = f"{scheme.lower()}://{host.lower()}{slash}{host_path}"
    joined = base + relative
    if sep:
        scheme_part, _, rest = joined.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme_part}://{host}{slash}{_normalize_path(path)}" if slash else f"{joined}/"
    return joined


def ruby_dirname(path: str) -> str:
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    cut = stripped.rfind("/")
    if cut < 0:
        return "."
    return stripped[:cut].rstrip("/") or "/"


def ruby_join(head: str, tail: str) -> str:
    return head.rstrip("/") + "/" + tail.lstrip("/")


def _sanitize_url(text: str) -> str:
    result = ("/" + text).replace("..", "/").replace("./", "")
    return re.sub("/{2,}", "/", result) if "//" in result else result


def _unique(values: Iterable[str]) -> str:
    return "/".join(dict.fromkeys(values))


class UrlDrop:
    """Jekyll's UrlDrop: each placeholder computed only if the permalink asks for it."""

    __slots__ = ("cats", "date", "ext", "markdown_exts", "name_no_ext", "rel_path", "slug")

    def __init__(
        self,
        date: dt.datetime,
        cats: list[str],
        slug: str,
        name_no_ext: str,
        rel_path: str,
        ext: str,
        markdown_exts: frozenset[str] = MARKDOWN_EXTS,
    ):
        self.date, self.cats, self.slug = date, cats, slug
        self.name_no_ext, self.rel_path, self.ext = name_no_ext, rel_path, ext
        self.markdown_exts = markdown_exts

    def output_ext(self) -> str:
        """Renderer#output_ext: Markdown becomes .html, Sass .css, anything else keeps its own."""
        ext = ruby_lower(self.ext)
        if ext in self.markdown_exts:
            return ".html"
        return ".css" if ext in _SASS_EXTS else self.ext

    def path(self) -> str:
        rel = self.rel_path[: len(self.rel_path) - len(self.ext)] if self.ext else self.rel_path
        return rel.replace("_posts", "", 1).rstrip(".")

    _GETTERS: dict = {  # noqa: RUF012 - a constant table
        "collection": lambda d: "posts",
        "path": lambda d: d.path(),
        "name": lambda d: slugify(d.name_no_ext),
        "title": lambda d: slugify(d.slug, "pretty", cased=True),
        "slug": lambda d: slugify(d.slug),
        "categories": lambda d: _unique(ruby_lower(c) for c in d.cats),
        "slugified_categories": lambda d: _unique(slugify(c) for c in d.cats),
        "year": lambda d: f"{d.date.year:04d}",
        "month": lambda d: f"{d.date.month:02d}",
        "day": lambda d: f"{d.date.day:02d}",
        "hour": lambda d: f"{d.date.hour:02d}",
        "minute": lambda d: f"{d.date.minute:02d}",
        "second": lambda d: f"{d.date.second:02d}",
        "i_day": lambda d: str(d.date.day),
        "i_month": lambda d: str(d.date.month),
        "short_month": lambda d: _MONTHS[d.date.month - 1][:3],
        "long_month": lambda d: _MONTHS[d.date.month - 1],
        "short_year": lambda d: f"{d.date.year % 100:02d}",
        "w_year": lambda d: str(d.date.isocalendar()[0]),
        "week": lambda d: f"{d.date.isocalendar()[1]:02d}",
        "w_day": lambda d: str(d.date.isocalendar()[2]),
        "short_day": lambda d: _DAYS[d.date.weekday()][:3],
        "long_day": lambda d: _DAYS[d.date.weekday()],
        "y_day": lambda d: f"{d.date.timetuple().tm_yday:03d}",
        "output_ext": lambda d: d.output_ext(),
    }

    def __contains__(self, name: str) -> bool:
        return name in self._GETTERS

    def __getitem__(self, name: str) -> str:
        return self._GETTERS[name](self)


def build_url(template: str, values: UrlDrop | dict, path: str) -> str:
    """URL#generate_url_from_drop + sanitize_url: every placeholder value is path-escaped."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return escape_path(values[name])
        if name.endswith("_") and name[:-1] in values:
            return escape_path(values[name[:-1]]) + "_"
        raise PostError(path, f"permalink {template!r} uses :{name}, which Jekyll does not know")

    return _sanitize_url(_PLACEHOLDER.sub(replace, template))
