"""Read one post file the way Jekyll 4 (4.3) does: id, URL, date, slug, title, tags, categories.

Kiji links readers to the published blog, so every field must be the one Jekyll itself produced;
anything else is a dead link or a post filed under the wrong day. The rules follow Jekyll 4.3's
own (Document, UrlDrop, URL, Utils.slugify, FrontmatterDefaults), and the agreement tests compare
them with what Jekyll 4.3.1 really built. The other modules of this package each hold one part:
`front_matter` (the YAML block), `site_config` (`_config.yml` and defaults), `ruby_dates`,
`permalinks` and `post_files` (which files are posts, and reading one safely).

Deliberate departures, all about broken input that Jekyll would accept silently or crash on: a
file without front matter is an error rather than a static file; a Markdown file in `_posts`
without a ``YYYY-MM-DD-`` name is an error rather than nothing; a `reading_time` too large for
anyone to mean it is an error rather than a number no store can hold. A site without a
`timezone` is read in UTC (Jekyll would use the build machine's zone).

Known disagreements left alone, each rare and checked against real Jekyll 4.3.1: an `exclude`
entry with a leading "/" (Jekyll honours it, Kiji does not), and Psych's YAML 1.1 readings of
`1,000`, `12:30` and of a `-00:30` offset.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.content.images import first_body_image, front_matter_image, image_url
from bot.content.textnorm import normalize_key
from bot.sources.front_matter import read_front_matter
from bot.sources.permalinks import UrlDrop, absolute_url, build_url, ruby_dirname, ruby_join, titleize_slug
from bot.sources.post_error import PostError
from bot.sources.post_files import DATE_NAME, MAX_POST_BYTES, MAX_POST_SIZE_TEXT, printable_path
from bot.sources.ruby_dates import front_matter_date, local_time
from bot.sources.ruby_text import RUBY_SPLIT, ruby_str
from bot.sources.site_config import Site, defaults_for, merge_data

log = logging.getLogger(__name__)

# A year of reading: anything longer is a typo, and a value past SQLite's 64-bit integers
# would make the whole batch it is written with fail.
MAX_READING_MINUTES = 525_600
_NUL = b"\x00"
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class ParsedPost:
    path: str
    id: str
    url: str
    abs_url: str
    slug: str
    title: str
    date: dt.datetime
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    author: str | None
    excerpt: str | None
    description: str | None
    reading_time: int | None
    published: bool
    body: str
    front_matter: dict
    image: str | None = None  # the post's picture: an absolute http(s) URL (see post_image)


def parse_post(data: bytes, rel_path: str, site: Site) -> ParsedPost:
    """Read one post; any problem with the bytes becomes a PostError, never another exception."""
    try:
        return _parse_post(data, rel_path, site)
    except PostError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, KeyError, AttributeError) as exc:
        # A last line of defence: the rules above should have caught this already.
        log.exception("unexpected %s while reading %s", type(exc).__name__, rel_path)
        raise PostError(rel_path, f"cannot read post: {type(exc).__name__}: {exc}") from None


def _parse_post(data: bytes, rel_path: str, site: Site) -> ParsedPost:
    path = rel_path
    try:
        rel_path.encode("utf-8")
    except UnicodeEncodeError:
        raise PostError(printable_path(rel_path), "file name is not valid UTF-8; rename it") from None
    size = len(data)
    if size > MAX_POST_BYTES:
        raise PostError(path, f"file too large: {size} bytes (limit {MAX_POST_BYTES} bytes = {MAX_POST_SIZE_TEXT})")
    if _NUL in data:
        raise PostError(path, f"binary file: contains NUL bytes (first at byte offset {data.index(_NUL)})")
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PostError(path, f"not valid UTF-8 at byte offset {exc.start + bom}") from None

    basename = rel_path.rsplit("/", 1)[-1]
    name_match = DATE_NAME.match(basename)
    if not name_match:
        raise PostError(path, f"bad file name {basename!r}: a post's name must start with YYYY-MM-DD-")
    fy, fm, fd, file_slug, ext = name_match.groups()
    file_slug = file_slug.rstrip(".")
    try:
        dt.date(int(fy), int(fm), int(fd))
    except ValueError as exc:
        raise PostError(path, f"impossible date {fy}-{fm}-{fd} in file name: {exc}") from None

    front_matter = read_front_matter(text, path)
    loaded, body = dict(front_matter.data), front_matter.body

    # Folders above `_posts` are categories; folders inside it are not (categories_from_path).
    above = rel_path[: rel_path.index("_posts")] if "_posts" in rel_path else ""
    folder_cats = [c for c in above.split("/") if c]
    merged: dict = {"categories": folder_cats}
    defaults = defaults_for(site, rel_path)
    if defaults:
        merged = merge_data(merged, defaults)
    merged = merge_data(merged, loaded)

    if "date" in merged:
        if merged["date"] is None:
            raise PostError(path, "front matter 'date' is empty")
        date = front_matter_date(merged["date"], site, path)
    else:
        date = local_time(int(fy), int(fm), int(fd), site, path, "file name")

    slug_value = merged.get("slug")
    slug = file_slug if slug_value is None or slug_value is False else ruby_str(slug_value)
    title_value = merged.get("title")
    title = titleize_slug(file_slug) if title_value is None or title_value is False else ruby_str(title_value)

    categories_raw = [ruby_str(c) for c in _flatten(_as_list(merged.get("categories")))]
    categories_raw += [ruby_str(c) for c in _pluralized(merged, "category", "categories")]
    categories_exact = list(dict.fromkeys(categories_raw))
    merged["categories"] = categories_exact
    tags_raw = _pluralized(merged, "tag", "tags")

    name_no_ext = basename[: len(basename) - len(ext)]
    values = UrlDrop(date, categories_exact, slug, name_no_ext, rel_path, ext, site.markdown_exts)
    permalink = merged.get("permalink")
    template = ruby_str(permalink) if permalink not in (None, False, "") else site.permalink
    url = build_url(template, values, path)
    post_id = ruby_join(ruby_dirname(url), slug)

    published_value = merged.get("published", True)
    author = merged.get("author")
    if isinstance(author, list):
        author = ", ".join(ruby_str(a) for a in _flatten(author))
    elif author is not None:
        author = ruby_str(author)
    reading = merged.get("reading_time")
    if isinstance(reading, str) and reading.strip().isascii() and reading.strip().isdigit():
        reading = int(reading.strip())
    reading_time = reading if isinstance(reading, int) and not isinstance(reading, bool) and reading >= 0 else None
    if reading_time is not None and reading_time > MAX_READING_MINUTES:
        shown = str(reading_time) if reading_time < 10**40 else f"of {reading_time.bit_length()} bits"
        raise PostError(
            path, f"reading_time {shown} is out of range: give minutes from 0 to {MAX_READING_MINUTES:,} (a year)"
        )
    excerpt = merged.get("excerpt")
    description = merged.get("description")
    abs_url = absolute_url(site, url)
    body = body.replace("\r\n", "\n").replace("\r", "\n")

    return ParsedPost(
        path=rel_path,
        id=post_id,
        url=url,
        abs_url=abs_url,
        slug=slug,
        title=title,
        date=date,
        tags=_unique_by_key(tags_raw),
        categories=_unique_by_key(categories_exact),
        author=author,
        excerpt=excerpt if isinstance(excerpt, str) else None,
        description=ruby_str(description) if description is not None else None,
        reading_time=reading_time,
        published=published_value is not None and published_value is not False,
        body=body,
        front_matter=merged,
        image=post_image(merged.get("image"), body, site, abs_url),
    )


def post_image(front_matter: object, body: str, site: Site, abs_url: str) -> str | None:
    """The post's picture: front matter `image` as jekyll-seo-tag reads it, else the body's first image.

    A front matter path is on the site (jekyll-seo-tag's `absolute_url`: url + baseurl + path); a
    body image's path is relative to the post's page, as a browser reads it. Unusable: None.
    """
    named = front_matter_image(front_matter)
    if named is not None:
        if _HAS_SCHEME.match(named) or named.startswith("//"):
            found = image_url(named, site.url or None)
        else:
            path, query, rest = named.partition("?")  # Addressable keeps a query out of the path
            found = image_url(absolute_url(site, path) + query + rest)
        if found:
            return found
    return image_url(first_body_image(body, site.url, site.baseurl), abs_url)


def _flatten(values: Iterable[Any], depth: int = 0) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            if depth > 20:  # a YAML alias can make a list contain itself
                continue
            out.extend(_flatten(value, depth + 1))
        elif value is not None:
            out.append(value)
    return out


def _pluralized(data: dict, singular: str, plural: str) -> list[Any]:
    """Utils.pluralized_array_from_hash: the singular key wins and is never split."""
    value = data.get(singular)
    if value is None or value is False:
        value = None
        if plural in data:
            plural_value = data[plural]
            if isinstance(plural_value, str):
                value = [v for v in RUBY_SPLIT.split(plural_value) if v]
            elif isinstance(plural_value, list):
                value = plural_value
    return _flatten([value])


def tags_of(data: dict) -> tuple[str, ...]:
    """A post's tags from its front matter, as ingest reads them (`tag` wins; a string splits on spaces)."""
    return _unique_by_key(_pluralized(data, "tag", "tags"))


def _unique_by_key(values: Iterable[Any]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        text = ruby_str(value)
        key = normalize_key(text)
        if key not in seen:
            seen.add(key)
            out.append(text)
    return tuple(out)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
