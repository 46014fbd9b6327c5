"""Read a Jekyll site's posts the way Jekyll 4 (4.3) does.

Kiji links readers to the published blog, so every URL, id, date, slug, title, tag
and category must be the one Jekyll itself produced; anything else is a dead link
or a post filed under the wrong day. The rules below follow Jekyll 4.3's own
(Document, UrlDrop, URL, Utils.slugify, FrontmatterDefaults, EntryFilter), and the
agreement tests compare them with what Jekyll 4.3.1 really built.

Deliberate departures, all about broken input that Jekyll would accept silently or
crash on: an impossible calendar date (Ruby rolls 2025-02-30 over to March 2) is a
`PostError`; a Markdown file in `_posts` without a ``YYYY-MM-DD-`` name is returned
by `find_post_files` so that `parse_post` can report it instead of it vanishing;
a file without front matter is an error rather than a static file; a front-matter
date with no year ("Jan 5") is an error, where Jekyll would take the year it builds in.
A site without a `timezone` is read in UTC (Jekyll would use the build machine's zone).

Known disagreements left alone, each rare and checked against real Jekyll 4.3.1: an
`exclude` entry with a leading "/" (Jekyll honours it, Kiji does not); "?" in a category
used in a URL (Jekyll leaves it unescaped); Psych's YAML 1.1 readings of `1,000`, `12:30`
and of a `-00:30` offset; and absolute URLs of compatibility characters ("ＡＢＣ", "ｶﾀ"),
which Debian's Addressable 2.8.1 NFKC-normalises while 2.8.2 and later, like Kiji, use NFC.

A plain folder of posts (no `_config.yml` and no `_posts/` inside) is read as the
`_posts` folder of a site with Jekyll's default configuration, so every post's
`path` is ``"_posts/" + its path inside the folder``: ids, URLs and defaults scoped
to `_posts` then behave exactly as if the folder were dropped into a real site.
"""

from __future__ import annotations

import codecs
import datetime as dt
import fnmatch
import functools
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.content.textnorm import normalize_key

log = logging.getLogger(__name__)

MAX_POST_BYTES = 5 * 1024 * 1024

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Jekyll's default markdown_ext list. A site's own `markdown_ext` replaces it; a dated
# file in `_posts` with any other extension is still a post (an .html post stays .html).
MARKDOWN_EXTS = frozenset({".markdown", ".mkdown", ".mkdn", ".mkd", ".md"})
# jekyll-sass-converter, which Jekyll 4 always loads, turns these into .css.
_SASS_EXTS = frozenset({".sass", ".scss"})

# Jekyll 4.1+ always appends these to the site's own `exclude`.
DEFAULT_EXCLUDES = (
    ".sass-cache",
    ".jekyll-cache",
    "gemfiles",
    "Gemfile",
    "Gemfile.lock",
    "node_modules",
    "vendor/bundle/",
    "vendor/cache/",
    "vendor/gems/",
    "vendor/ruby/",
)

PERMALINK_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}

# Ruby's \s and String#split are ASCII-only: a full-width space (U+3000) inside a
# Japanese tag must NOT split it, whereas Python's str.split() would.
_RUBY_WS = " \t\n\v\f\r"
_NUL = b"\x00"
_RUBY_SPLIT = re.compile(r"[ \t\n\v\f\r]+")
_DATE_NAME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})-(.*)(\.[^.]+)\Z", re.S)
_PLACEHOLDER = re.compile(r":([a-z_]+)")
_ESCAPE_FAST = re.compile(r"[a-zA-Z0-9./-]+\Z")
_TIME_STRING = re.compile(
    r"[ \t\n\v\f\r]*(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(?:[ \t]*([AaPp])\.?[Mm]\.?(?![A-Za-z]))?)?"
    r"[ \t]*(?:([-+]\d[\d:]*|[A-Za-z][^ \t\n\v\f\r]*)(?:[ \t]+\(?[A-Za-z]+\)?)?)?[ \t\n\v\f\r]*\Z"
)
# Ruby's Time.zone_offset: only these numeric shapes are offsets; "+9" or "+0900:00" is not.
_OFFSET = re.compile(r"([-+])(\d\d)(?:(:?)(\d\d)(?:\3(\d\d))?)?\Z")
# Ruby's Time::ZoneOffset, the only zone names Time.parse knows (besides the local
# zone's own abbreviation): JST, CET, BST and the rest are read as local time.
_ZONE_ABBREVIATIONS = {
    "UTC": 0, "Z": 0, "UT": 0, "GMT": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8, "I": 9, "K": 10, "L": 11, "M": 12,
    "N": -1, "O": -2, "P": -3, "Q": -4, "R": -5, "S": -6, "T": -7, "U": -8, "V": -9, "W": -10, "X": -11, "Y": -12,
}  # fmt: skip

# Addressable's escape set for URL placeholders (RFC 3986 pchar plus "/").
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


class PostError(Exception):
    """A post (or `_config.yml`) Kiji cannot read, with the reason a writer can act on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Site:
    root: Path
    title: str
    url: str
    baseurl: str
    permalink: str  # the template, with a style name already expanded
    timezone: dt.tzinfo
    timezone_name: str
    future: bool
    defaults: tuple[dict, ...]  # the front-matter default sets that can apply to posts
    exclude: tuple[str, ...]
    # True when `root` is itself a folder of posts rather than a site.
    posts_only: bool = field(default=False)
    # Lower-cased extensions (with the dot) Jekyll converts from Markdown to .html.
    markdown_exts: frozenset[str] = field(default=MARKDOWN_EXTS)


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


# --------------------------------------------------------------------------- YAML


class _BadTimestamp(str):
    """A YAML timestamp naming a day that does not exist; only fatal as `date`."""


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    pass


def _construct_timestamp(loader: Any, node: Any) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError, AttributeError):  # AttributeError: `!!timestamp` on a non-date
        return _BadTimestamp(node.value)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _load_yaml(text: str, path: str, what: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "unparseable"
        raise PostError(path, f"invalid YAML in {what}{where}: {problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise PostError(path, f"invalid YAML in {what}: {exc}") from None


# --------------------------------------------------------------------------- site


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _ruby_str(value: Any) -> str:
    """Render a scalar as Ruby's to_s would, since Liquid prints YAML values that way."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def load_site(root: Path) -> Site:
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(root)
    config_path = root / "_config.yml"
    posts_only = False
    config: Any = {}
    if config_path.is_file():
        raw = config_path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PostError(str(config_path), f"not valid UTF-8 at byte offset {exc.start}") from None
        config = _load_yaml(text, str(config_path), "_config.yml")
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise PostError(str(config_path), f"_config.yml must be a mapping, not {type(config).__name__}")
    elif not (root / "_posts").is_dir():
        posts_only = True

    tz_name = config.get("timezone") or "UTC"
    if not isinstance(tz_name, str):
        raise PostError(str(config_path), f"timezone must be a zone name like Asia/Tokyo, not {tz_name!r}")
    try:
        tz = _zone(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PostError(str(config_path), f"unknown timezone {tz_name!r}") from None

    permalink = config.get("permalink")
    collections = config.get("collections")
    if isinstance(collections, dict) and isinstance(collections.get("posts"), dict):
        permalink = collections["posts"].get("permalink") or permalink
    permalink = _ruby_str(permalink) if permalink is not None else "date"
    permalink = PERMALINK_STYLES.get(permalink, permalink)

    exclude = config.get("exclude")
    excludes = [str(x) for x in exclude if x is not None] if isinstance(exclude, list) else []
    excludes += [x for x in DEFAULT_EXCLUDES if x not in excludes]

    markdown_ext = config.get("markdown_ext")
    if isinstance(markdown_ext, str):  # Jekyll splits on "," and keeps any spaces
        markdown_exts = frozenset("." + _ruby_lower(e) for e in markdown_ext.split(","))
    else:
        markdown_exts = MARKDOWN_EXTS

    return Site(
        root=root,
        title=_ruby_str(config.get("title")),
        url=_ruby_str(config.get("url")),
        baseurl=_ruby_str(config.get("baseurl")),
        permalink=permalink,
        timezone=tz,
        timezone_name=tz_name,
        future=bool(config.get("future", False)),
        defaults=tuple(_post_default_sets(config.get("defaults"))),
        exclude=tuple(excludes),
        posts_only=posts_only,
        markdown_exts=markdown_exts,
    )


def _post_default_sets(sets: Any) -> Iterable[dict]:
    if not isinstance(sets, list):
        return
    for entry in sets:
        if not isinstance(entry, dict) or not isinstance(entry.get("values"), dict):
            continue  # Jekyll ignores invalid sets too
        scope = entry.get("scope")
        if isinstance(scope, dict) and "type" in scope:
            kind = {"post": "posts", "page": "pages", "draft": "drafts"}.get(scope["type"], scope["type"])
            if kind != "posts":
                continue
        yield entry


# --------------------------------------------------------------------------- finding posts


def _special(name: str) -> bool:
    return name[:1] in (".", "_", "#", "~") or name.endswith("~")


@functools.lru_cache(maxsize=32)
def _exclude_matcher(patterns: tuple[str, ...]) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    """One compiled regex for the glob patterns plus the plain prefixes: the walk tests every file."""
    globs = "|".join(fnmatch.translate(pattern) for pattern in patterns)
    return (re.compile(globs) if globs else None), patterns


def _excluded(site: Site, rel: str, is_dir: bool) -> bool:
    if not site.exclude:
        return False
    globs, prefixes = _exclude_matcher(tuple(site.exclude))
    if (globs is not None and globs.match(rel)) or rel.startswith(prefixes):
        return True
    return is_dir and (rel + "/") in prefixes


def find_post_files(site: Site) -> list[tuple[Path, str]]:
    """Walk the site as Jekyll's Reader does: every `_posts` under a non-skipped folder."""
    root = site.root
    found: list[tuple[Path, str]] = []
    if site.posts_only:
        _collect_posts(site, root, "_posts", found, check_exclude=False)
        return sorted(found, key=lambda item: item[1])
    for dirpath, dirnames, _files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        if "_posts" in dirnames:
            posts_rel = f"{rel_dir}/_posts" if rel_dir else "_posts"
            _collect_posts(site, Path(dirpath) / "_posts", posts_rel, found, check_exclude=True)
        keep = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if _special(name) or _excluded(site, rel, True):
                continue
            if os.path.islink(os.path.join(dirpath, name)):
                continue
            keep.append(name)
        dirnames[:] = keep
    return sorted(found, key=lambda item: item[1])


def _collect_posts(site: Site, base: Path, base_rel: str, out: list, *, check_exclude: bool) -> None:
    for dirpath, dirnames, files in os.walk(base):
        inner = os.path.relpath(dirpath, base)
        inner = "" if inner == "." else inner.replace(os.sep, "/")
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # Ruby's glob skips dot folders
        for name in files:
            entry = f"{inner}/{name}" if inner else name
            if _special(entry) or _special(name):
                continue
            path = Path(dirpath) / name
            # Any other dated file is a post to Jekyll too (an .html or .txt post), unless it
            # is not text: Jekyll skips a file that is not valid UTF-8 without a word. A plain
            # posts folder keeps to Markdown, as it may hold anything else.
            if _ruby_lower(os.path.splitext(name)[1]) not in site.markdown_exts and (
                site.posts_only or not _DATE_NAME.match(name) or not _is_text(path)
            ):
                continue
            rel = f"{base_rel}/{entry}"
            if check_exclude and _excluded(site, rel, False):
                continue
            out.append((path, rel))


def _is_text(path: Path) -> bool:
    """Whether a non-Markdown file is UTF-8 text without NULs (an image named like a post is not)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_POST_BYTES + 1)
    except OSError:
        return True  # let the reader report it
    if _NUL in data:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) <= MAX_POST_BYTES)
    except UnicodeDecodeError:
        return False
    return True


# --------------------------------------------------------------------------- parsing


def _split_front_matter(text: str) -> tuple[str, str] | None:
    """Jekyll's YAML_FRONT_MATTER_REGEXP, by hand so a 5 MiB file cannot backtrack."""
    first_nl = text.find("\n")
    if first_nl < 0 or not text.startswith("---") or text[3:first_nl].strip(_RUBY_WS):
        return None
    pos = first_nl + 1
    length = len(text)
    while pos <= length:
        end = text.find("\n", pos)
        line = text[pos:] if end < 0 else text[pos:end]
        if line[:3] in ("---", "...") and not line[3:].strip(_RUBY_WS):
            # Ruby's greedy `\s*$\n?` also swallows blank lines after the closing marker.
            after = pos + 3
            stop = after
            while stop < length and text[stop] in _RUBY_WS:
                stop += 1
            last_nl = text.rfind("\n", after, stop)
            body_start = stop if stop == length else last_nl + 1
            return text[:pos], text[body_start:]
        if end < 0:
            return None
        pos = end + 1
    return None


def _deep_merge(target: dict, other: dict) -> dict:
    """Jekyll's deep_merge_hashes: nested mappings merge, and a nil never erases a value."""
    merged = dict(target)
    for key, new in other.items():
        if key in merged:
            old = merged[key]
            if new is None:
                continue
            if isinstance(old, dict) and isinstance(new, dict):
                merged[key] = _deep_merge(old, new)
                continue
        merged[key] = new
    return merged


def _merge_data(data: dict, other: dict) -> dict:
    """Jekyll's Document#merge_data!: categories are unioned, everything else deep-merged."""
    cats = other.get("categories")
    if cats is not None:
        if isinstance(cats, str):
            cats = _RUBY_SPLIT.split(cats)
            cats = [c for c in cats if c]
        if isinstance(data.get("categories"), list):
            new = cats if isinstance(cats, list) else [cats]
            cats = list(data["categories"]) + [c for c in new if c not in data["categories"]]
        other = {**other, "categories": cats}
    return _deep_merge(data, other)


def _defaults_for(site: Site, rel_path: str) -> dict:
    """FrontmatterDefaults#all for a post: matching sets, the more specific path winning."""
    merged: dict = {}
    old_scope: dict | None = None
    for entry in site.defaults:
        scope = entry.get("scope")
        scope = scope if isinstance(scope, dict) else {}
        if not _scope_path_applies(scope.get("path"), rel_path, site):
            continue
        if _has_precedence(old_scope, scope):
            merged = _deep_merge(merged, entry["values"])
            old_scope = scope
        else:
            merged = _deep_merge(entry["values"], merged)
    return merged


def _sanitize_scope_path(path: Any) -> str:
    """FrontmatterDefaults#sanitize_path, used only to rank scopes: one leading "/" dropped."""
    if not isinstance(path, str) or not path:
        return ""
    return path[1:] if path.startswith("/") else path


def _scope_path_applies(scope_path: Any, rel_path: str, site: Site) -> bool:
    """FrontmatterDefaults#applies_path?: a plain string prefix of the post's path.

    The scope path is used as written: `/news` is no prefix of `news/...`, so it applies
    to nothing. With a `*` Jekyll Dir.globs the scope path under the site and applies it
    when a path found is a string prefix of the post's path; every folder above a post
    and the post itself exist, so matching the pattern against those prefixes finds the
    same paths (other prefixes are checked on disk).
    """
    if not isinstance(scope_path, str) or not scope_path:
        return True
    if "*" not in scope_path:
        return rel_path.startswith(scope_path)
    pattern, dirs_only = _ruby_glob(scope_path)
    for end in range(1, len(rel_path) + 1):
        at_folder = end < len(rel_path) and rel_path[end] == "/"
        if (dirs_only and not at_folder) or not pattern.fullmatch(rel_path, 0, end):
            continue
        if at_folder or end == len(rel_path) or site_path(site, rel_path[:end]).exists():
            return True
    return False


def site_path(site: Site, rel_path: str) -> Path:
    """Where the file or folder Jekyll calls `rel_path` lives on disk."""
    if site.posts_only:  # the folder itself stands in for `_posts`
        return site.root / rel_path.removeprefix("_posts").lstrip("/")
    return site.root / rel_path


@functools.lru_cache(maxsize=64)
def _ruby_glob(pattern: str) -> tuple[re.Pattern[str], bool]:
    """Ruby's Dir.glob pattern as a regex: `*` `?` `[]` `{,}` and `**/`, never a hidden name."""
    dirs_only = pattern.endswith("/")
    pattern = pattern.rstrip("/") if dirs_only else pattern
    out: list[str] = []
    i, n, depth = 0, len(pattern), 0
    while i < n:
        ch = pattern[i]
        start = i == 0 or pattern[i - 1] == "/"
        no_dot = "(?!\\.)" if start else ""
        if pattern.startswith("**/", i) and start:
            out.append("(?:(?!\\.)[^/]+/)*")
            i += 3
            continue
        if ch == "*":
            while i + 1 < n and pattern[i + 1] == "*":
                i += 1
            out.append(no_dot + "[^/]*")
        elif ch == "?":
            out.append(no_dot + "[^/]")
        elif ch == "[":
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if close < 0:
                out.append("\\[")
            else:
                body = pattern[i + 1 : close]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
                i = close
        elif ch == "{":
            depth += 1
            out.append("(?:")
        elif ch == "," and depth:
            out.append("|")
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.compile("".join(out) + ")" * depth, re.S), dirs_only
    except re.error:
        return re.compile(re.escape(pattern)), dirs_only


def _has_precedence(old: dict | None, new: dict) -> bool:
    if old is None:
        return True
    new_path = _sanitize_scope_path(new.get("path"))
    old_path = _sanitize_scope_path(old.get("path"))
    if len(new_path) != len(old_path):
        return len(new_path) >= len(old_path)
    if "type" in new:
        return True
    return "type" not in old


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
                value = [v for v in _RUBY_SPLIT.split(plural_value) if v]
            elif isinstance(plural_value, list):
                value = plural_value
    return _flatten([value])


def _unique_by_key(values: Iterable[Any]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        text = _ruby_str(value)
        key = normalize_key(text)
        if key not in seen:
            seen.add(key)
            out.append(text)
    return tuple(out)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _to_site_time(value: dt.datetime, site: Site, path: str) -> dt.datetime:
    try:
        return value.astimezone(site.timezone)
    except (OverflowError, ValueError):
        raise PostError(path, f"date {value.isoformat()} is out of range") from None


def _local(year: int, month: int, day: int, site: Site, path: str, where: str, *hms: int) -> dt.datetime:
    try:
        value = dt.datetime(year, month, day, *hms, tzinfo=site.timezone)
    except ValueError as exc:
        raise PostError(path, f"impossible date {year:04d}-{month:02d}-{day:02d} in {where}: {exc}") from None
    # Ruby's Time.local reads a repeated (fall-back) wall time as standard time, the later one.
    if value.utcoffset() > value.replace(fold=1).utcoffset():  # type: ignore[operator]
        value = value.replace(fold=1)
    # Round-trip through UTC so a wall time inside a DST gap gets its real offset.
    return _to_site_time(value.astimezone(dt.UTC), site, path)


def _zone_offset(zone: str, year: int, site: Site) -> dt.timedelta | None:
    """Ruby's Time.zone_offset: None means Time.parse reads the time as local (site) time."""
    zone = zone.upper()
    off = _OFFSET.match(zone)
    if off:
        sign = -1 if off.group(1) == "-" else 1
        hours, minutes, seconds = int(off.group(2)), int(off.group(4) or 0), int(off.group(5) or 0)
        return sign * dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if zone in _ZONE_ABBREVIATIONS:
        return dt.timedelta(hours=_ZONE_ABBREVIATIONS[zone])
    # Time.zone_offset's last resort: the local zone's own name on 1 January or 1 July.
    for month in (1, 7):
        local = dt.datetime(year, month, 1, tzinfo=site.timezone)
        if (local.tzname() or "").upper() == zone:
            return local.utcoffset()
    return None


def _parse_date_string(text: str, site: Site, path: str) -> dt.datetime:
    """Ruby's Time.parse: local (site) time unless the string names a zone Ruby knows."""
    match = _TIME_STRING.match(text)
    if match:
        # The fraction of a second is matched but dropped: Jekyll reparses `date.to_s`, which has none.
        year, month, day, hour, minute, second, _fraction, meridian, zone = match.groups()
        h = int(hour or 0)
        if meridian:
            h = h % 12 + (12 if meridian in "Pp" else 0)
        # Date._parse only reads a zone after a time of day; a bare "2024-01-05 +0900" is local midnight.
        fields = _DateFields(int(year), int(month), int(day), h, int(minute or 0), int(second or 0),
                             zone if hour is not None else None)  # fmt: skip
    else:
        fields = _ruby_date_parse(text)
        if fields is None:
            raise PostError(
                path, f"unrecognised date {text!r} in front matter (expected YYYY-MM-DD [HH:MM[:SS]] [±HH:MM])"
            )
        if fields.year is None:
            raise PostError(path, f"date {text.strip()!r} in front matter has no year")
    y, mo, d, h, mi, s = fields.year, fields.month or 1, fields.day or 1, fields.hour, fields.minute, fields.second
    try:
        dt.date(y, mo, d)
    except ValueError as exc:
        raise PostError(path, f"impossible date {text.strip()!r} in front matter: {exc}") from None
    # Ruby's Time takes 24:00:00 as the next midnight and a leap second :60 as the next minute.
    carry = dt.timedelta(0)
    if h == 24 and mi == 0 and s == 0:
        h, carry = 0, dt.timedelta(days=1)
    elif s == 60 and h <= 23 and mi <= 59:
        s, carry = 59, dt.timedelta(seconds=1)
    if h > 23 or mi > 59 or s > 59:
        raise PostError(path, f"impossible time {text.strip()!r} in front matter")
    zone = fields.zone
    offset = _zone_offset(zone, y, site) if zone is not None else None
    if offset is None:
        if not carry:
            return _local(y, mo, d, site, path, "front matter", h, mi, s)
        wall = dt.datetime(y, mo, d, h, mi, s) + carry
        return _local(wall.year, wall.month, wall.day, site, path, "front matter", wall.hour, wall.minute, wall.second)
    if abs(offset) >= dt.timedelta(days=1):
        raise PostError(path, f"impossible UTC offset {zone!r} in front matter date")
    tz = dt.timezone(offset)
    return _to_site_time(dt.datetime(y, mo, d, h, mi, s, tzinfo=tz) + carry, site, path)


@dataclass
class _DateFields:
    year: int | None = None
    month: int | None = None
    day: int | None = None
    hour: int = 0
    minute: int = 0
    second: int = 0
    zone: str | None = None


# A port of the parts of Ruby's Date._parse (date_parse.c) that dates in front matter use:
# weekday names, times with am/pm and a zone, "5 Jan 2024", "Jan 5, 2024", "05-Jan-2024",
# y-m-d, y/m/d, y.m.d and "20240105". Each recogniser blanks out what it read, in Ruby's order.
_RB_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_RB_ERA = r"c(?:e|\.e\.)|b(?:ce|\.c\.e\.)|a(?:d|\.d\.)|b(?:c|\.c\.)"
_RB_FLAGS = re.I | re.ASCII
_RB_NOISE = re.compile(r"(?:[^-+',./:@\w\[\]]|_)+")
_RB_DAY = re.compile(r"\b(?:sun|mon|tue|wed|thu|fri|sat)[^-/\d\s]*", _RB_FLAGS)
_RB_TIME = re.compile(
    r"(\d+\s*(?:(?::\s*\d+(?:\s*:\s*\d+(?:[,.]\d*)?)?|h(?:\s*\d+m?(?:\s*\d+s?)?)?)"
    r"(?:\s*[ap](?:m\b|\.m\.))?|[ap](?:m\b|\.m\.)))"
    r"(?:\s*((?:gmt|utc?)?[-+]\d+(?:[,.:]\d+(?::\d+)?)?"
    r"|(?-i:[a-zA-Z.\s]+)(?:standard|daylight)\stime\b|(?-i:[a-zA-Z]+)(?:\sdst)?\b))?",
    _RB_FLAGS,
)
_RB_TIME2 = re.compile(
    r"(\d+)h?(?:\s*:?\s*(\d+)m?(?:\s*:?\s*(\d+)(?:[,.](\d+))?s?)?)?(?:\s*([ap])(?:m\b|\.m\.))?", _RB_FLAGS
)
_RB_EU = re.compile(
    rf"'?\b(\d+)[^-\d\s']*\s*({_RB_MONTHS})[^-\d\s']*(?:\s*({_RB_ERA})?\s*('?-?\d+(?:(?:st|nd|rd|th)\b)?))?",
    _RB_FLAGS,
)
_RB_US = re.compile(rf"\b({_RB_MONTHS})[^-\d\s']*\s*('?\d+)[^-\d\s']*(?:\s*,?\s*({_RB_ERA})?\s*('?-?\d+))?", _RB_FLAGS)
_RB_ISO = re.compile(r"('?[-+]?\d+)-(\d+)-('?-?\d+)", _RB_FLAGS)
_RB_VMS = re.compile(rf"('?-?\d+)-({_RB_MONTHS})[^-/.]*-('?-?\d+)", _RB_FLAGS)
_RB_SLA = re.compile(r"('?-?\d+)/\s*('?\d+)(?:\D\s*('?-?\d+))?", _RB_FLAGS)
_RB_DOT = re.compile(r"('?-?\d+)\.\s*('?\d+)\.\s*('?-?\d+)", _RB_FLAGS)
_RB_DDD = re.compile(r"([-+]?)(\d{2,14})(?:\s*t?\s*(\d{2,6})?(?:[,.](\d*))?)?(?:\s*(z\b|[-+]\d{1,4}\b))?", _RB_FLAGS)
_RB_MON = re.compile(rf"\b({_RB_MONTHS})\S*", _RB_FLAGS)
_RB_MDAY = re.compile(r"(\d+)(?:st|nd|rd|th)\b", _RB_FLAGS)
_RB_DIGITS = re.compile(r"[-+]?\d+")


def _rb_month(name: str) -> str:
    return str(_RB_MONTHS.split("|").index(name[:3].lower()) + 1)


def _rb_s3e(f: _DateFields, y: str | None, m: str | None, d: str | None, comp: list[bool]) -> bool:
    """date_parse.c's s3e: decide which of three numbers is the year, as Ruby does."""
    if y is not None and m is not None and d is None:
        y, m, d = d, y, m
    if y is None and d is not None and (len(d) > 2 or d.startswith("'")):
        y, d = d, None
    if y is not None:
        digits = re.search(r"[-+]?\d+", y)
        if digits and digits.end() < len(y):  # "5th": not a year after all
            y, d = d, y[digits.start() :]
    if m is not None and (m.startswith("'") or len(m) > 2):
        y, m, d = m, d, y  # us -> be
    if d is not None and (d.startswith("'") or len(d) > 2):
        y, d = d, y
    if y is not None:
        digits = _RB_DIGITS.search(y)
        if digits:
            if digits.group()[:1] in "+-" or len(digits.group().lstrip("+-")) > 2:
                comp[0] = False
            f.year = int(digits.group())
    if m is not None:
        digits = _RB_DIGITS.search(m)
        if digits:
            f.month = int(digits.group())
    if d is not None:
        digits = _RB_DIGITS.search(d)
        if digits:
            f.day = int(digits.group())
    return True


def _ruby_date_parse(text: str) -> _DateFields | None:
    """Date._parse for the shapes above, or None when none of them is there."""
    if len(text) > 128:  # Date._parse's own limit: Jekyll reports such a date as invalid
        return None
    f = _DateFields()
    comp = [True]
    found = False
    s = _RB_NOISE.sub(" ", text)

    def take(pattern: re.Pattern[str]) -> re.Match[str] | None:
        nonlocal s
        match = pattern.search(s)
        if match:
            s = s[: match.start()] + " " + s[match.end() :]
        return match

    take(_RB_DAY)
    time = take(_RB_TIME)
    if time:
        found = True
        parts = _RB_TIME2.match(time.group(1))
        if parts:
            hour, minute, second, _fraction, meridian = parts.groups()
            f.hour = int(hour)
            if meridian:
                f.hour = f.hour % 12 + (12 if meridian.lower() == "p" else 0)
            f.minute, f.second = int(minute or 0), int(second or 0)
        f.zone = time.group(2)
    if match := take(_RB_EU):
        day, mon, _era, year = match.groups()
        found = _rb_s3e(f, year, _rb_month(mon), day, comp)
    elif match := take(_RB_US):
        mon, day, _era, year = match.groups()
        found = _rb_s3e(f, year, _rb_month(mon), day, comp)
    elif match := take(_RB_ISO):
        found = _rb_s3e(f, *match.groups(), comp)
    elif match := take(_RB_VMS):
        day, mon, year = match.groups()
        found = _rb_s3e(f, year, _rb_month(mon), day, comp)
    elif (match := take(_RB_SLA)) or (match := take(_RB_DOT)):
        found = _rb_s3e(f, *match.groups(), comp)
    elif match := take(_RB_MON):
        f.month, found = int(_rb_month(match.group(1))), True
    elif match := take(_RB_MDAY):
        f.day, found = int(match.group(1)), True
    elif match := _RB_DDD.search(s):
        sign, digits, clock, _fraction, zone = match.groups()
        if sign or len(digits) not in (8, 14) or (clock and len(clock) % 2):
            return None  # the other digit-run shapes are rare enough to refuse
        f.year, f.month, f.day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
        clock = digits[8:] if len(digits) == 14 else clock
        if clock:
            f.hour, f.minute, f.second = int(clock[:2]), int(clock[2:4] or 0), int(clock[4:6] or 0)
            f.zone = zone or f.zone
        comp[0], found = False, True
    if not found:
        return None
    if comp[0] and f.year is not None and 0 <= f.year <= 99:
        f.year += 1900 if f.year >= 69 else 2000
    return f


def _front_matter_date(value: Any, site: Site, path: str) -> dt.datetime:
    if isinstance(value, _BadTimestamp):
        raise PostError(path, f"impossible date {str(value)!r} in front matter")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # YAML reads an offset-less timestamp as UTC
            value = value.replace(tzinfo=dt.UTC)
        # Jekyll parses the Time's to_s again, which drops any fraction of a second.
        value = value.replace(microsecond=0)
        return _to_site_time(value, site, path)
    if isinstance(value, dt.date):
        return _local(value.year, value.month, value.day, site, path, "front matter")
    if isinstance(value, str):
        return _parse_date_string(value, site, path)
    raise PostError(path, f"front matter date must be a date or timestamp, not {_ruby_str(value)!r}")


def _ruby_lower(text: str) -> str:
    """Ruby's String#downcase: Python's lower() but without the Greek final-sigma rule (Σ is always σ)."""
    if "Σ" not in text:
        return text.lower()
    return "σ".join(part.lower() for part in text.split("Σ"))


def _ruby_capitalize(text: str) -> str:
    """Ruby's String#capitalize: the first character title-cased, the rest downcased as Ruby does."""
    return text[:1].capitalize() + _ruby_lower(text[1:])


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
    return slug if cased else _ruby_lower(slug)


def titleize_slug(slug: str) -> str:
    """Utils.titleize_slug: Ruby's split drops trailing empty parts, and capitalize lowers the rest."""
    parts = slug.split("-")
    while parts and not parts[-1]:
        parts.pop()
    return " ".join(_ruby_capitalize(part) for part in parts)


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


def _ruby_dirname(path: str) -> str:
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    cut = stripped.rfind("/")
    if cut < 0:
        return "."
    return stripped[:cut].rstrip("/") or "/"


def _ruby_join(head: str, tail: str) -> str:
    return head.rstrip("/") + "/" + tail.lstrip("/")


def _sanitize_url(text: str) -> str:
    result = ("/" + text).replace("..", "/").replace("./", "")
    return re.sub("/{2,}", "/", result) if "//" in result else result


def _unique(values: Iterable[str]) -> str:
    return "/".join(dict.fromkeys(values))


class _UrlDrop:
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
        ext = _ruby_lower(self.ext)
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
        "categories": lambda d: _unique(_ruby_lower(c) for c in d.cats),
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


def build_url(template: str, values: _UrlDrop | dict, path: str) -> str:
    """URL#generate_url_from_drop + sanitize_url: every placeholder value is path-escaped."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return escape_path(values[name])
        if name.endswith("_") and name[:-1] in values:
            return escape_path(values[name[:-1]]) + "_"
        raise PostError(path, f"permalink {template!r} uses :{name}, which Jekyll does not know")

    return _sanitize_url(_PLACEHOLDER.sub(replace, template))


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
    size = len(data)
    if size > MAX_POST_BYTES:
        raise PostError(path, f"file too large: {size} bytes (limit {MAX_POST_BYTES} bytes = 5 MiB)")
    if b"\x00" in data:
        raise PostError(path, f"binary file: contains NUL bytes (first at byte offset {data.index(_NUL)})")
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PostError(path, f"not valid UTF-8 at byte offset {exc.start + bom}") from None

    basename = rel_path.rsplit("/", 1)[-1]
    name_match = _DATE_NAME.match(basename)
    if not name_match:
        raise PostError(path, f"bad file name {basename!r}: a post's name must start with YYYY-MM-DD-")
    fy, fm, fd, file_slug, ext = name_match.groups()
    file_slug = file_slug.rstrip(".")
    try:
        dt.date(int(fy), int(fm), int(fd))
    except ValueError as exc:
        raise PostError(path, f"impossible date {fy}-{fm}-{fd} in file name: {exc}") from None

    split = _split_front_matter(text)
    if split is None:
        raise PostError(path, "no front matter: a post must start with a '---' line and a closing '---' line")
    yaml_text, body = split
    loaded = _load_yaml(yaml_text, path, "front matter")
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise PostError(path, f"front matter must be a mapping of keys to values, not a {type(loaded).__name__}")

    # Folders above `_posts` are categories; folders inside it are not (categories_from_path).
    above = rel_path[: rel_path.index("_posts")] if "_posts" in rel_path else ""
    folder_cats = [c for c in above.split("/") if c]
    merged: dict = {"categories": folder_cats}
    defaults = _defaults_for(site, rel_path)
    if defaults:
        merged = _merge_data(merged, defaults)
    merged = _merge_data(merged, loaded)

    if "date" in merged:
        if merged["date"] is None:
            raise PostError(path, "front matter 'date' is empty")
        date = _front_matter_date(merged["date"], site, path)
    else:
        date = _local(int(fy), int(fm), int(fd), site, path, "file name")

    slug_value = merged.get("slug")
    slug = file_slug if slug_value is None or slug_value is False else _ruby_str(slug_value)
    title_value = merged.get("title")
    title = titleize_slug(file_slug) if title_value is None or title_value is False else _ruby_str(title_value)

    categories_raw = [_ruby_str(c) for c in _flatten(_as_list(merged.get("categories")))]
    categories_raw += [_ruby_str(c) for c in _pluralized(merged, "category", "categories")]
    categories_exact = list(dict.fromkeys(categories_raw))
    merged["categories"] = categories_exact
    tags_raw = _pluralized(merged, "tag", "tags")

    name_no_ext = basename[: len(basename) - len(ext)]
    values = _UrlDrop(date, categories_exact, slug, name_no_ext, rel_path, ext, site.markdown_exts)
    permalink = merged.get("permalink")
    template = _ruby_str(permalink) if permalink not in (None, False, "") else site.permalink
    url = build_url(template, values, path)
    post_id = _ruby_join(_ruby_dirname(url), slug)

    published_value = merged.get("published", True)
    author = merged.get("author")
    if isinstance(author, list):
        author = ", ".join(_ruby_str(a) for a in _flatten(author))
    elif author is not None:
        author = _ruby_str(author)
    reading = merged.get("reading_time")
    if isinstance(reading, str) and reading.strip().isascii() and reading.strip().isdigit():
        reading = int(reading.strip())
    reading_time = reading if isinstance(reading, int) and not isinstance(reading, bool) and reading >= 0 else None
    excerpt = merged.get("excerpt")
    description = merged.get("description")

    return ParsedPost(
        path=rel_path,
        id=post_id,
        url=url,
        abs_url=absolute_url(site, url),
        slug=slug,
        title=title,
        date=date,
        tags=_unique_by_key(tags_raw),
        categories=_unique_by_key(categories_exact),
        author=author,
        excerpt=excerpt if isinstance(excerpt, str) else None,
        description=_ruby_str(description) if description is not None else None,
        reading_time=reading_time,
        published=published_value is not None and published_value is not False,
        body=body.replace("\r\n", "\n").replace("\r", "\n"),
        front_matter=merged,
    )
