"""Post dates exactly as Ruby's Time and Date read them for Jekyll.

A post's date decides its URL (`/2024/01/05/...`) and the day it is filed under, so Kiji must
read every date string the way Jekyll 4.3 did on Ruby: `Time.parse` for front-matter strings
(local time unless it names a zone Ruby knows), `Date._parse` for the looser shapes, and
`Time.local` for a file name's date, all in the site's timezone.

Deliberate departures, for broken input Jekyll accepts silently: an impossible calendar date
(Ruby rolls 2025-02-30 over to March 2) is a `PostError`, and a date with no year ("Jan 5") is
an error where Jekyll would take the year it builds in.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from bot.sources.front_matter import BadTimestamp
from bot.sources.post_error import PostError
from bot.sources.ruby_text import ruby_str
from bot.sources.site_config import Site

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


def _to_site_time(value: dt.datetime, site: Site, path: str) -> dt.datetime:
    try:
        return value.astimezone(site.timezone)
    except (OverflowError, ValueError):
        raise PostError(path, f"date {value.isoformat()} is out of range") from None


def local_time(year: int, month: int, day: int, site: Site, path: str, where: str, *hms: int) -> dt.datetime:
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
            return local_time(y, mo, d, site, path, "front matter", h, mi, s)
        wall = dt.datetime(y, mo, d, h, mi, s) + carry
        return local_time(
            wall.year, wall.month, wall.day, site, path, "front matter", wall.hour, wall.minute, wall.second
        )
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


def front_matter_date(value: Any, site: Site, path: str) -> dt.datetime:
    if isinstance(value, BadTimestamp):
        raise PostError(path, f"impossible date {str(value)!r} in front matter")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # YAML reads an offset-less timestamp as UTC
            value = value.replace(tzinfo=dt.UTC)
        # Jekyll parses the Time's to_s again, which drops any fraction of a second.
        value = value.replace(microsecond=0)
        return _to_site_time(value, site, path)
    if isinstance(value, dt.date):
        return local_time(value.year, value.month, value.day, site, path, "front matter")
    if isinstance(value, str):
        return _parse_date_string(value, site, path)
    raise PostError(path, f"front matter date must be a date or timestamp, not {ruby_str(value)!r}")
