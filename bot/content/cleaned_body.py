"""The cleaned body: sections of blocks, the text they flatten to, and the outline to rebuild them.

What cleaning hands to ingest, search and summaries; kept apart from the cleaning passes so that
readers of a stored body (summaries) need none of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.content.boilerplate import CHATTER

__all__ = ["Block", "CleanedBody", "Section", "looks_like_prose"]

_MIN_PROSE_CHARS = 40


@dataclass(frozen=True)
class Block:
    kind: str  # "paragraph" | "list_item" | "quote"
    text: str


@dataclass(frozen=True)
class Section:
    heading: str | None
    level: int
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class CleanedBody:
    sections: tuple[Section, ...]
    tables: tuple[str, ...]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for section in self.sections:
            if section.heading:
                parts.append(section.heading)
            parts.extend(block.text for block in section.blocks)
        return "\n\n".join(parts)

    @property
    def outline(self) -> str:
        """The structure `text` flattens away, so the store can rebuild this body without re-cleaning.

        JSON: one `[heading level (0: none), heading length, [[block kind, length], ...]]` per
        section, lengths in characters of `text`'s parts in order.
        """
        return json.dumps(
            [
                [section.level if section.heading else 0, len(section.heading or ""),
                 [[block.kind, len(block.text)] for block in section.blocks]]
                for section in self.sections
            ],
            separators=(",", ":"),
        )  # fmt: skip

    @classmethod
    def from_outline(cls, text: str, outline: str) -> CleanedBody:
        """The body `text` and `outline` were taken from (without its tables, which summaries leave out).

        A missing or inconsistent outline gives one untitled section of paragraphs, one per
        `text` part: worse summaries, never an error.
        """
        try:
            sections = []
            at = 0
            for level, heading_length, blocks in json.loads(outline):
                heading = None
                if level:
                    heading, at = text[at : at + heading_length], at + heading_length + 2
                parts = []
                for kind, length in blocks:
                    parts.append(Block(kind, text[at : at + length]))
                    at += length + 2
                sections.append(Section(heading, level, tuple(parts)))
            body = cls(tuple(sections), ())
            if body.text == text:
                return body
        except (ValueError, TypeError):
            pass
        blocks = tuple(Block("paragraph", part) for part in text.split("\n\n") if part.strip())
        return cls((Section(None, 0, blocks),) if blocks else (), ())

    @property
    def search_text(self) -> str:
        return "\n\n".join([self.text, *self.tables]).strip()

    @property
    def has_prose(self) -> bool:
        prose_chars = 0
        for section in self.sections:
            for block in section.blocks:
                if looks_like_prose(block.text):
                    prose_chars += len(block.text)
                    if prose_chars >= _MIN_PROSE_CHARS:
                        return True
        return False


def looks_like_prose(text: str) -> bool:
    if len(text) < 15 or CHATTER.match(text):
        return False
    letters = sum(1 for ch in text if ch.isalpha())
    if letters / len(text) < 0.5:
        return False
    terminators = sum(text.count(ch) for ch in "。！？")
    terminators += len(re.findall(r"[.!?](?:\s|$)", text))
    return terminators > 0
