"""Turn a post's Markdown body into plain text for search, summaries and display.

The blog's bodies were written by an LLM pipeline and glued together from
chunks, so beyond stripping Markdown we must undo the pipeline's damage:
`---END---` chunk marks, paragraphs repeated verbatim or nearly, sentences cut
at a chunk border and continued (often with an overlap) in the next chunk,
leaked generation prompts, call-to-action and affiliate blocks, and articles
flattened onto a single line.

The passes, one module each, in the order `_clean` runs them: `markdown_blocks` (pre-pass,
line scanner, inline stripping), `prose_filter` (prompts, footer blocks, calls to action,
chatter; cut sentences rejoined), `near_duplicates` (repeated chunks); this module then drops
the title restated as the first line and builds the sections of a `cleaned_body.CleanedBody`.
"""

from __future__ import annotations

import logging
import math
import re

from bot.content.cleaned_body import Block, CleanedBody, Section
from bot.content.markdown_blocks import RAW_BRACES_BACK, Raw, prepass, scan_blocks, strip_inline
from bot.content.near_duplicates import all_shingles, dedup_key, dedupe
from bot.content.prose_filter import drop_prompt_and_chatter, rejoin_cut_sentences

logger = logging.getLogger(__name__)

__all__ = ["Block", "CleanedBody", "Section", "clean_body", "reading_time_minutes"]


def clean_body(markdown: str, title: str | None = None) -> CleanedBody:
    try:
        return _clean(markdown, title)
    except Exception:  # a bad post must not stop ingest of the other 2,500
        logger.exception("cleaning failed; falling back to tag-stripped text")
        text = strip_inline(str(markdown).replace("\n", " ")) if isinstance(markdown, str) else ""
        blocks = (Block("paragraph", text),) if text else ()
        return CleanedBody(sections=(Section(None, 0, blocks),) if blocks else (), tables=())


# Kana, kanji and CJK compatibility ideographs, read at 500 a minute; other letters and digits
# make words (joined across ' - ’ inside a word), read at 200 a minute.
_CJK_RANGES = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"
_CJK_CHARS = re.compile(f"[{_CJK_RANGES}]+")
_WORD = re.compile(f"[^\\W_{_CJK_RANGES}](?:[^\\W_{_CJK_RANGES}]|['\\-’])*")


def reading_time_minutes(text: str) -> int:
    """Minutes to read `text`, at least 1.

    Counted by two regex passes, not a loop over the characters in Python: that loop was 1.2 s
    of a 2,501-post ingest, a seventh of its parsing CPU. tests/bot/test_cleaning.py holds
    these patterns to the loop on all of Unicode and on random text.
    """
    # each run of kana/kanji becomes one space, which ends a word as the run did: a Japanese text
    # leaves little for the word pattern to scan
    rest, runs = _CJK_CHARS.subn(" ", text)
    cjk = len(text) - len(rest) + runs
    latin_words = len(_WORD.findall(rest))
    minutes = cjk / 500 + latin_words / 200
    return max(1, math.ceil(minutes))


def _clean(markdown: str, title: str | None) -> CleanedBody:
    text = prepass(markdown)
    tables: list[str] = []
    raws = list(scan_blocks(text.split("\n"), tables))
    raws = drop_prompt_and_chatter(raws)
    raws = rejoin_cut_sentences(raws)
    raws = dedupe(raws)
    if title and (title_key := dedup_key(title)):
        raws = _subtitle_for_title_line(raws, title_key)
    # dropping repeats brings a cut chunk next to its continuation; what is still cut is trimmed
    raws = rejoin_cut_sentences(raws, trim=True)
    sections = _build_sections(raws, title)
    if "\ue000" in text or "\ue001" in text:  # give {% raw %} text its braces back
        sections = [
            Section(
                s.heading and s.heading.translate(RAW_BRACES_BACK),
                s.level,
                tuple(Block(b.kind, b.text.translate(RAW_BRACES_BACK)) for b in s.blocks),
            )
            for s in sections
        ]
        tables = [table.translate(RAW_BRACES_BACK) for table in tables]
    return CleanedBody(sections=tuple(sections), tables=tuple(tables))


def _build_sections(raws: list[Raw], title: str | None) -> list[Section]:
    sections: list[Section] = []
    heading: str | None = None
    level = 0
    blocks: list[Block] = []
    seen_headings: set[str] = set()
    title_key = dedup_key(title) if title else ""
    first_content = True

    def close() -> None:
        if heading is None and not blocks:
            return
        key = dedup_key(heading) if heading else ""
        if not blocks and key and key in seen_headings:
            return  # a repeated chunk's heading whose paragraphs were all duplicates
        if key:
            seen_headings.add(key)
        sections.append(Section(heading, level if heading else 0, tuple(blocks)))

    for raw in raws:
        if raw.kind == "break":
            continue
        if raw.kind == "heading":
            if first_content and title_key and _restates(raw.text, title_key):
                first_content = False
                continue
            close()
            heading, level, blocks = raw.text, max(1, min(6, raw.level)), []
            first_content = False
            continue
        if first_content:
            first_content = False
            if title_key and _restates(raw.text, title_key):
                continue
        blocks.append(Block(raw.kind, raw.text))
    close()
    # a trailing heading with nothing under it is leftover scaffolding
    while sections and not sections[-1].blocks:
        sections.pop()
    return sections


# where a title line's own title ends: "…とは？ 実務経験から見たリスクと対策" keeps the subtitle
_AFTER_FIRST_QUESTION_OR_STOP = re.compile(r"(?<=[。！？?!])\s*")


def _subtitle_for_title_line(raws: list[Raw], title_key: str) -> list[Raw]:
    """A first paragraph restating the title goes, except what follows the title in it (a subtitle, a sentence).

    The title is shown beside the text; "…とは？ 実務経験から見たリスクと対策" keeps its second half.
    """
    for index, raw in enumerate(raws):
        if raw.kind == "break":
            continue
        if raw.kind != "paragraph":
            return raws
        head, *rest = _AFTER_FIRST_QUESTION_OR_STOP.split(raw.text, maxsplit=1)
        if not (_restates(raw.text, title_key) or _restates(head, title_key)):
            return raws
        kept = rest[0].strip() if rest else ""
        if not kept or _restates(kept, title_key):
            return raws[:index] + raws[index + 1 :]
        return [*raws[:index], Raw("paragraph", kept, finished=True), *raws[index + 1 :]]
    return raws


def _restates(text: str, title_key: str) -> bool:
    key = dedup_key(text)
    if not key:
        return False
    if key == title_key:
        return True
    if len(key) > 2 * len(title_key) + 10:
        return False
    a, b = all_shingles(key), all_shingles(title_key)
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) >= 0.6 or inter / min(len(a), len(b)) >= 0.9
