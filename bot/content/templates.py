"""Announcement templates: text with `{placeholders}` that a server admin writes in Discord.

A template is text, never code. It is parsed once, when it is set, into literal pieces and
placeholders from a fixed list; anything else (an unknown name, attribute access such as
`{title.__class__}`, indexing, a conversion `!r`, a format spec other than the few a placeholder
takes) is refused with the reason, so a template either means exactly what it says or is never
saved. Rendering only looks values up by name and joins strings: Python's `str.format` is never
called on a template, which is what makes format-spec injection impossible.

Grammar: `{name}`, `{name:argument}` (dates take a strftime format, summaries `short` or
`standard`), fallbacks `{description||summary}` (the first non-empty one), and `{{` / `}}` for
literal braces. Everything else is literal text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

# Every placeholder a template may use, with what it means (shown when a name is unknown).
PLACEHOLDERS: Mapping[str, str] = {
    "title": "the post's title",
    "url": "the post's address",
    "summary": "Kiji's summary ({summary:short} for the short one)",
    "description": "the description the author wrote in the front matter",
    "author": "the author",
    "date": "the publication date ({date:%Y-%m-%d %H:%M} for another format)",
    "tags": "the tags, comma separated",
    "categories": "the categories, comma separated",
    "blog": "the blog's name",
    "reading_time": "the reading time in minutes",
    "image": "the address of the post's picture (front matter image, og:image, or the body's first image)",
    "role": "the role the subscription mentions (the only mention a template can make)",
}
SUMMARY_LENGTHS = ("short", "standard")
DEFAULT_DATE_FORMAT = "%Y-%m-%d %H:%M"
# strftime directives a date format may use: enough for any date a person writes, and none that
# depends on the process's locale settings.
_DATE_DIRECTIVES = frozenset("YmdHMSyjIpabBAaZz%")
MAX_TEMPLATE = 2000  # longer than Discord's whole message could never be sent
_NAME = re.compile(r"[a-z_]+\Z")


class TemplateError(ValueError):
    """A template that cannot be used; the message says what is wrong, for the admin who wrote it."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `{…}`: its alternatives in order, each a (name, argument) pair."""

    alternatives: tuple[tuple[str, str | None], ...]


Piece = str | Placeholder


@dataclass(frozen=True, slots=True)
class PostFields:
    """What a post offers a template, already in the subscription's time zone and the reader's language.

    `summaries` holds the summary lengths that were made (only those the template asks for are).
    """

    title: str
    url: str
    date: datetime
    summaries: Mapping[str, str]
    description: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    blog: str = ""
    reading_time: int = 0
    role: str = ""
    image: str = ""


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template; `Template.parse` is the only way to make one."""

    source: str
    pieces: tuple[Piece, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        if len(text) > MAX_TEMPLATE:
            raise TemplateError(f"the template is {len(text)} characters long; Discord takes at most {MAX_TEMPLATE}")
        return cls(text, tuple(_pieces(text)))

    @property
    def names(self) -> frozenset[str]:
        """The placeholder names the template uses (so only what it needs is made)."""
        return frozenset(name for p in self.pieces if isinstance(p, Placeholder) for name, _ in p.alternatives)

    @property
    def summary_lengths(self) -> frozenset[str]:
        return frozenset(
            argument or "standard"
            for p in self.pieces
            if isinstance(p, Placeholder)
            for name, argument in p.alternatives
            if name == "summary"
        )

    def render(self, fields: PostFields) -> str:
        out = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            for name, argument in piece.alternatives:
                value = _value(fields, name, argument)
                if value:
                    out.append(value)
                    break
        return "".join(out)


def _pieces(text: str) -> list[Piece]:
    pieces: list[Piece] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text.startswith(char * 2, i):
            literal.append(char)
            i += 2
            continue
        if char == "}":
            raise TemplateError(f"a '}}' at character {i + 1} closes nothing; write '}}}}' for a literal brace")
        if char != "{":
            literal.append(char)
            i += 1
            continue
        end = text.find("}", i + 1)
        inner = text[i + 1 : end] if end != -1 else ""
        if end == -1 or "{" in inner:
            raise TemplateError(f"the '{{' at character {i + 1} is never closed; write '{{{{' for a literal brace")
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append(Placeholder(tuple(_alternative(part.strip()) for part in inner.split("||"))))
        i = end + 1
    if literal:
        pieces.append("".join(literal))
    return pieces


def _alternative(part: str) -> tuple[str, str | None]:
    name, colon, argument = part.partition(":")
    name = name.strip()
    if not _NAME.match(name) or name not in PLACEHOLDERS:
        known = ", ".join("{" + n + "}" for n in PLACEHOLDERS)
        raise TemplateError(f"{{{part}}} is not a placeholder Kiji knows; the placeholders are {known}")
    if not colon:
        return name, None
    if name == "date":
        directives = re.findall(r"%(.?)", argument)
        bad = sorted({d for d in directives if d not in _DATE_DIRECTIVES})
        if bad or not argument:
            raise TemplateError(
                f"{{date:{argument}}} has a format Kiji does not take"
                + (f" (%{', %'.join(bad)})" if bad else "")
                + "; use strftime codes such as %Y-%m-%d %H:%M"
            )
        return name, argument
    if name == "summary":
        if argument.strip() not in SUMMARY_LENGTHS:
            raise TemplateError(f"{{summary:{argument}}}: a summary is short or standard")
        return name, argument.strip()
    raise TemplateError(f"{{{part}}}: only {{date}} and {{summary}} take a ':' argument")


def _value(fields: PostFields, name: str, argument: str | None) -> str:
    match name:
        case "date":
            return fields.date.strftime(argument or DEFAULT_DATE_FORMAT)
        case "summary":
            return fields.summaries.get(argument or "standard", "")
        case "tags":
            return ", ".join(fields.tags)
        case "categories":
            return ", ".join(fields.categories)
        case "reading_time":
            return str(fields.reading_time) if fields.reading_time else ""
        case "title":
            return fields.title
        case "url":
            return fields.url
        case "description":
            return fields.description
        case "author":
            return fields.author
        case "blog":
            return fields.blog
        case "role":
            return fields.role
        case "image":
            return fields.image
    raise AssertionError(f"parse admitted an unknown placeholder {name!r}")
