"""Markdown to blocks: the pre-pass on the raw text, the line scanner, and inline stripping.

A hand-written line scanner with precompiled regexes rather than a full Markdown parse: the
blog only uses a small subset of Markdown, and the cases a CommonMark parser gets "right"
(setext headings, lazy continuations) are the ones the pipeline never meant; such parsers also
merge the blog's one-paragraph-per-line blocks.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["RAW_BRACES_BACK", "Raw", "prepass", "scan_blocks", "strip_inline"]


@dataclass
class Raw:
    """A block while it is still being assembled and judged."""

    kind: str  # "heading" | "paragraph" | "list_item" | "quote" | "break"
    text: str
    level: int = 0
    bold_only: bool = False
    link_only: bool = False  # a heading that is nothing but a link
    finished: bool = False  # complete without an end mark (a subtitle): never trimmed as cut


# --- pre-pass: things removed or split on the raw text -----------------------------------------

_MIN_PROSE_CHARS = 40

_END_MARK = re.compile(r"-{2,}\s*END\s*-{2,}", re.IGNORECASE)
# A line that *talks about* the END mark is a leaked generation instruction, not content.
_END_INSTRUCTION_LINE = re.compile(
    r"^[^\n]{0,300}?-{2,}[ \t]*END[ \t]*-{2,}[ \t]*(?:を|と|が|で|は)[^\n]*$", re.MULTILINE
)
_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_LIQUID = re.compile(r"\{%.{0,500}?%\}|\{\{.{0,500}?\}\}", re.DOTALL)
# Liquid blocks whose content matters: a comment and highlighted code are dropped, raw text is kept
# A block tag and, searched separately, its end tag: one pattern with a lazy body retried the
# rest of the text after every opener that never closes (144 KB of "{% raw %}": 12.7 s).
_LIQUID_BLOCK_OPEN = re.compile(r"\{%-?\s*(raw|comment|highlight)\b[^%]*%\}")
_LIQUID_BLOCK_END = {tag: re.compile(r"\{%-?\s*end" + tag + r"\s*-?%\}") for tag in ("raw", "comment", "highlight")}
# {% raw %} text hides its braces from the Liquid and IAL strippers and the noise check until the end
_RAW_BRACES = str.maketrans("{}", "\ue000\ue001")
RAW_BRACES_BACK = str.maketrans("\ue000\ue001", "{}")
_LIQUID_RESIDUE = re.compile(r"\{%|%\}|\{\{|\}\}")

# Flattened articles: a very long line that carries inline headings no Markdown parser would see.
_FLAT_MIN_LEN = 200
_FLAT_HEADING = re.compile(r"(?:^|\s)(#{1,6})\s+")
_FLAT_HR = re.compile(r"\s+(?:-{3,}|\*{3,}|_{3,})(?=\s|$)")
_FLAT_LIST = re.compile(r"\s+(?=(?:[-*+]|\d{1,2}[.)])\s+\S)")
_FLAT_SENTENCE = re.compile(r"([。！？])\s+(?=\S)")
# Where an inline heading's text stops: the first space after CJK text or closing punctuation.
_FLAT_HEADING_END = re.compile(r"(?<=[^\x00-\x7f])\s+|(?<=[?!.:])\s+")

# --- block scanner --------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^\s{0,3}(#{1,6})(?:\s+|(?=[^\s#\x00-\x7f]))(.*?)(?:\s+#+)?\s*$")
_HR = re.compile(r"^\s{0,3}(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,})$")
_LIST = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
_QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LINE_END = frozenset("。！？")
_MARKUP_START = frozenset("#|-*+>`~{<_=0123456789[")
_BOLD_LINE = re.compile(r"^\*\*[^*]+\*\*$")
_IAL_LINE = re.compile(r"^\s*\{:[^}]*\}\s*$")
# kramdown's "* TOC" + "{:toc}": the list item is a placeholder for a generated table of contents
_TOC_IAL_LINE = re.compile(r"^\s*\{:[^}]*\b(?:no_)?toc\b[^}]*\}\s*$")
# "[id]: https://… "title"" defines a link target, not text; "[^1]: text" is a footnote's text
_LINK_DEFINITION = re.compile(
    r"^\s{0,3}\[[^\]\n]+\]:[ \t]*(?:<[^>\n]*>|[!-~]*[/.:#][!-~]*)"
    r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*$"
)
_FOOTNOTE_DEFINITION = re.compile(r"^\s{0,3}\[\^[^\]\n]+\]:[ \t]*(.*)$")
_HTML_BLOCK_LINE = re.compile(r"^\s*</?[A-Za-z][^>]*>\s*$")

# "[本の題名](https://…)" as a heading: a book or post in a footer list, not a section of the article
_LINK_HEADING = re.compile(r"^\s*\[[^\]\n]*\]\([^)\n]*\)\s*$")

# --- inline stripping -----------------------------------------------------------------------------

_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)|!\[[^\]\n]*\]\[[^\]\n]*\]")
_LINK = re.compile(r"\[([^\]\n]*)\]\((?:[^()\n]|\([^()\n]*\))*\)")
_REF_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_FOOTNOTE = re.compile(r"\[\^[^\]\n]*\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_IAL_INLINE = re.compile(r"\{:[^}\n]*\}")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_STRONG = re.compile(r"\*\*|__(?=\S)|(?<=\S)__")
_EM_STAR = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_EM_UNDER = re.compile(r"(?<![\w])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w])")
_STRIKE = re.compile(r"~~(.+?)~~")
_STRAY_MARKUP = re.compile(r"(?<!\S)#{1,6}(?=\s)|\*\*|\|-{2,}|^\s*>\s?")
_LEADING_ELLIPSIS = re.compile(r"^(?:\.{3,}|…+)\s*(?=\S)")
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
_CJK_CHAR = r"\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_GAP = re.compile(rf"([{_CJK_CHAR}])\s+(?=[{_CJK_CHAR}])")


def prepass(markdown: str) -> str:
    text = markdown.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if "<" in text:
        text = _drop_html_comments(text)
        text = _SCRIPT_STYLE.sub("", text)
    if "{" in text:
        if "{%" in text:
            text = _replace_liquid_blocks(text)
        text = _LIQUID.sub("", text)
    if "END" in text or "End" in text or "end" in text:
        text = _END_INSTRUCTION_LINE.sub("", text)
        text = _END_MARK.sub("\n\n", text)
    if len(text) >= _FLAT_MIN_LEN and any(len(line) >= _FLAT_MIN_LEN for line in text.split("\n")):
        text = "\n".join(_unflatten(line) if len(line) >= _FLAT_MIN_LEN else line for line in text.split("\n"))
    return text


def _drop_html_comments(text: str) -> str:
    """`<!--.*?-->` removed as re.sub would, in linear time.

    re retried the lazy body to the end of the text after every "<!--" that never closes
    (10,000 of them: 3.7 s). Once no "-->" follows one opener, none follows a later one.
    """
    out: list[str] = []
    copied = 0
    while (start := text.find("<!--", copied)) >= 0:
        end = text.find("-->", start + 4)
        if end < 0:
            break
        out.append(text[copied:start])
        copied = end + 3
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)


def _replace_liquid_blocks(text: str) -> str:
    """`{% raw %}…{% endraw %}` and its kin replaced, left to right as re.sub would, in linear time.

    An opener without an end tag after it is left alone; once one kind has no end tag after
    some point, no later opener of that kind can have one, so it is not searched for again.
    """
    out: list[str] = []
    copied = search_from = 0
    unclosed: set[str] = set()
    while (opener := _LIQUID_BLOCK_OPEN.search(text, search_from)) is not None:
        tag = opener.group(1)
        end = None if tag in unclosed else _LIQUID_BLOCK_END[tag].search(text, opener.end())
        if end is None:
            unclosed.add(tag)
            search_from = opener.start() + 1
            continue
        out.append(text[copied : opener.start()])
        out.append(_liquid_block(tag, text[opener.end() : end.start()]))
        copied = search_from = end.end()
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)


def _liquid_block(tag: str, content: str) -> str:
    if tag == "raw":
        return content.translate(_RAW_BRACES)
    return "" if tag == "comment" else "\n\n"  # highlighted code goes, like a code fence


def _unflatten(line: str) -> str:
    """Give back the block structure of an article that was written out on one line."""
    if "# " not in line and "。 " not in line and " --- " not in line:
        return line
    out: list[str] = []
    pieces = _FLAT_HEADING.split(line)
    # split() alternates text, hashes, text, hashes, text...
    head = pieces[0]
    out.append(_unflatten_prose(head))
    for i in range(1, len(pieces) - 1, 2):
        hashes, rest = pieces[i], pieces[i + 1]
        match = _FLAT_HEADING_END.search(rest)
        if match:
            heading, body = rest[: match.start()], rest[match.end() :]
        else:
            heading, body = rest, ""
        out.append(f"{hashes} {heading}")
        out.append(_unflatten_prose(body))
    return "\n\n".join(part for part in out if part.strip())


def _unflatten_prose(text: str) -> str:
    text = _FLAT_HR.sub("\n\n", text)
    text = _FLAT_LIST.sub("\n", text)
    return _FLAT_SENTENCE.sub("\\1\n\n", text)


def scan_blocks(lines: list[str], tables: list[str]) -> Iterable[Raw]:
    """Split lines into raw blocks; tables go to `tables`, code and markup noise is dropped."""
    para: list[str] = []
    para_kind = "paragraph"
    in_fence: str | None = None
    i = 0
    n = len(lines)
    # A third of a post's paragraphs repeat earlier ones byte for byte: strip each text once.
    stripped_texts: dict[str, str] = {}

    def flush() -> Raw | None:
        nonlocal para, para_kind
        if not para:
            return None
        raw_text = _join_lines(para)
        kind = para_kind
        para = []
        para_kind = "paragraph"
        bold_only = raw_text.startswith("**") and raw_text.endswith("**") and raw_text.count("**") == 2
        cleaned = stripped_texts.get(raw_text)
        if cleaned is None:
            cleaned = stripped_texts[raw_text] = strip_inline(raw_text)
        if not cleaned or not any(ch.isalnum() for ch in cleaned):
            return None
        return Raw(kind, cleaned, bold_only=bold_only)

    while i < n:
        line = lines[i]
        i += 1
        if in_fence is not None:
            if line.strip().startswith(in_fence):
                in_fence = None
            continue
        fence = _FENCE.match(line)
        if fence:
            if (raw := flush()) is not None:
                yield raw
            in_fence = fence.group(1)[0] * 3
            continue
        stripped = line.strip()
        if not stripped:
            if (raw := flush()) is not None:
                yield raw
            continue
        if stripped[0] not in _MARKUP_START:
            # plain text, the common case: no block regex can match
            ends_paragraph = para and (para[-1][-1] in _LINE_END or _BOLD_LINE.match(para[-1]))
            if ends_paragraph and para_kind == "paragraph" and (raw := flush()) is not None:
                yield raw
            para.append(stripped)
            continue
        if _IAL_LINE.match(line) or _HTML_BLOCK_LINE.match(line):
            if para_kind == "list_item" and _TOC_IAL_LINE.match(line):
                para, para_kind = [], "paragraph"
            elif (raw := flush()) is not None:
                yield raw
            continue
        if stripped[0] == "[" and "]:" in stripped:
            footnote = _FOOTNOTE_DEFINITION.match(line)
            if footnote or _LINK_DEFINITION.match(line):
                if (raw := flush()) is not None:
                    yield raw
                if footnote and footnote.group(1).strip():
                    para = [footnote.group(1).strip()]
                continue
        if _HR.match(line):
            if (raw := flush()) is not None:
                yield raw
            yield Raw("break", "")
            continue
        heading = _ATX.match(line)
        if heading and not (len(heading.group(1)) == 1 and not line.lstrip().startswith("# ")):
            if (raw := flush()) is not None:
                yield raw
            htext = strip_inline(heading.group(2))
            if htext:
                link_only = _LINK_HEADING.match(heading.group(2)) is not None
                yield Raw("heading", htext, level=len(heading.group(1)), link_only=link_only)
            continue
        if _TABLE_ROW.match(line) and (
            (i < n and _TABLE_SEP.match(lines[i])) or (para == [] and _TABLE_ROW.match(lines[i] if i < n else ""))
        ):
            if (raw := flush()) is not None:
                yield raw
            rows = [line]
            while i < n and _TABLE_ROW.match(lines[i]):
                rows.append(lines[i])
                i += 1
            cells = [
                strip_inline(cell)
                for row in rows
                if not _TABLE_SEP.match(row)
                for cell in row.strip().strip("|").split("|")
            ]
            table_text = " ".join(cell for cell in cells if cell)
            if table_text:
                tables.append(table_text)
            continue
        item = _LIST.match(line)
        if item:
            if (raw := flush()) is not None:
                yield raw
            para = [item.group(2)]
            para_kind = "list_item"
            continue
        quote = _QUOTE.match(line)
        if quote:
            if para_kind != "quote" and (raw := flush()) is not None:
                yield raw
            para.append(quote.group(1))
            para_kind = "quote"
            continue
        # the pipeline writes one paragraph per line, often without a blank line between
        ends_paragraph = para and (para[-1][-1] in _LINE_END or _BOLD_LINE.match(para[-1]))
        if ends_paragraph and para_kind == "paragraph" and (raw := flush()) is not None:
            yield raw
        para.append(stripped)
    if (raw := flush()) is not None:
        yield raw


def _join_lines(lines: list[str]) -> str:
    joined = " ".join(line.strip() for line in lines)
    return _CJK_GAP.sub(r"\1", joined) if len(lines) > 1 else joined


_BRACKET_SEGMENT_END = re.compile(r"[\]\n]")
_PAREN_TAIL_END = re.compile(r"[)\n]")


def _sub_bracketed(pattern: re.Pattern[str], repl: str, text: str, opener: str, paren_tail: bool = False) -> str:
    """`pattern.sub(repl, text)` in linear time, for a pattern opening with `opener` and text up to "]".

    re retries such a pattern at every "[" and each try reads up to the next "]" or newline:
    40,000 "[" then "]" took 24 s. All openers before the same "]" or newline end the same
    way, so when the first of them fails, the others are skipped without trying.

    A `paren_tail` pattern continues "](" with text that must close with ")" before the line
    ends; re read the rest of the line for every "](" that never closes (20,000 "![a](": 9 s
    and growing as the square). The next ")" or newline is looked up once per stretch instead.
    """
    out: list[str] = []
    copied = position = 0
    scanned_from = next_stop = -1  # text[scanned_from:next_stop] holds no ")" or newline
    while (start := text.find(opener, position)) >= 0:
        stop = _BRACKET_SEGMENT_END.search(text, start + len(opener))
        if paren_tail and stop is not None and text.startswith("](", stop.start()):
            tail = stop.start() + 2
            if not scanned_from <= tail <= next_stop:
                found = _PAREN_TAIL_END.search(text, tail)
                scanned_from, next_stop = tail, len(text) if found is None else found.start()
            if next_stop == len(text) or text[next_stop] == "\n":
                position = max(stop.start(), start + 1)
                continue
        match = pattern.match(text, start)
        if match is None:
            position = len(text) if stop is None else max(stop.start(), start + 1)
            continue
        out.append(text[copied:start])
        out.append(match.expand(repl))
        copied = position = match.end()
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)


def strip_inline(text: str) -> str:
    if "[" in text and "]" in text:  # every pattern needs both: a run of "[" alone is not scanned
        text = _sub_bracketed(_IMAGE, "", text, "![", paren_tail=True)
        text = _sub_bracketed(_FOOTNOTE, "", text, "[^")
        text = _sub_bracketed(_LINK, r"\1", text, "[", paren_tail=True)
        text = _sub_bracketed(_REF_LINK, r"\1", text, "[")
    if "<" in text:
        text = _AUTOLINK.sub(r"\1", text)
        text = _HTML_TAG.sub("", text)
    if "{" in text:
        text = _IAL_INLINE.sub("", text)
        text = _LIQUID.sub("", text)
        text = _LIQUID_RESIDUE.sub("", text)
    if "`" in text:
        text = _CODE_SPAN.sub(r"\2", text)
    if "**" in text or "__" in text:
        text = _STRONG.sub("", text)
    if "*" in text:
        text = _EM_STAR.sub(r"\1", text)
    if "_" in text:
        text = _EM_UNDER.sub(r"\1", text)
    if "~~" in text:
        text = _STRIKE.sub(r"\1", text)
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:
            text = _HTML_TAG.sub("", text)
    if "#" in text or "**" in text or "|-" in text or text.lstrip().startswith(">"):
        text = _STRAY_MARKUP.sub("", text)
    if "END" in text or "end" in text or "End" in text:
        text = _END_MARK.sub(" ", text)
    text = text.strip()
    if text.startswith((".", "…")):
        text = _LEADING_ELLIPSIS.sub("", text)
    if "  " in text or "\t" in text or "\u3000" in text or "\xa0" in text:
        text = _SPACES.sub(" ", text)
    return text.rstrip("\\").strip()
