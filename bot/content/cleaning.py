"""Turn a post's Markdown body into plain text for search, summaries and display.

The blog's bodies were written by an LLM pipeline and glued together from
chunks, so beyond stripping Markdown we must undo the pipeline's damage:
`---END---` chunk marks, paragraphs repeated verbatim or nearly, sentences cut
at a chunk border and continued (often with an overlap) in the next chunk,
leaked generation prompts, call-to-action and affiliate blocks, and articles
flattened onto a single line.

Ingest cleans every post of a ~2,500-post corpus at start-up, so this module is
a hand-written line scanner with precompiled regexes rather than a full
Markdown parse: the blog only uses a small subset of Markdown, and the cases a
CommonMark parser gets "right" (setext headings, lazy continuations) are the
ones the pipeline never meant. Near-duplicate detection indexes a hash-sampled
subset of character 3-grams so it stays roughly linear in the post's length.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

from bot.content.boilerplate import AD_BLOCK, CALL_TO_ACTION, FOOTER_HEADING
from bot.content.boilerplate import CHATTER as _CHATTER
from bot.content.sentences import sentence_pieces
from bot.content.textnorm import fold

logger = logging.getLogger(__name__)

__all__ = ["Block", "CleanedBody", "Section", "clean_body", "reading_time_minutes"]


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
                if _looks_like_prose(block.text):
                    prose_chars += len(block.text)
                    if prose_chars >= _MIN_PROSE_CHARS:
                        return True
        return False


# --- pre-pass: things removed or split on the raw text -----------------------------------------

_MIN_PROSE_CHARS = 40

_END_MARK = re.compile(r"-{2,}\s*END\s*-{2,}", re.IGNORECASE)
# A line that *talks about* the END mark is a leaked generation instruction, not content.
_END_INSTRUCTION_LINE = re.compile(
    r"^[^\n]{0,300}?-{2,}[ \t]*END[ \t]*-{2,}[ \t]*(?:を|と|が|で|は)[^\n]*$", re.MULTILINE
)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_LIQUID = re.compile(r"\{%.{0,500}?%\}|\{\{.{0,500}?\}\}", re.DOTALL)
# Liquid blocks whose content matters: a comment and highlighted code are dropped, raw text is kept
# A block tag and, searched separately, its end tag: one pattern with a lazy body retried the
# rest of the text after every opener that never closes (144 KB of "{% raw %}": 12.7 s).
_LIQUID_BLOCK_OPEN = re.compile(r"\{%-?\s*(raw|comment|highlight)\b[^%]*%\}")
_LIQUID_BLOCK_END = {tag: re.compile(r"\{%-?\s*end" + tag + r"\s*-?%\}") for tag in ("raw", "comment", "highlight")}
# {% raw %} text hides its braces from the Liquid and IAL strippers and the noise check until the end
_RAW_BRACES = str.maketrans("{}", "\ue000\ue001")
_RAW_BRACES_BACK = str.maketrans("\ue000\ue001", "{}")
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

# --- boilerplate, leaked prompts, chatter ---------------------------------------------------------

_PROMPT_HEADER = re.compile(
    r"^【(?:既存の記事[^】]*|要求事項|文体の指示|注意|指示|制約|出力形式|前提|条件|執筆ルール|記事の構成)】"
)
_PROMPT_END = re.compile(r"^(?:続きを書いてください|以下に続きを|それでは続きを)")
_PROMPT_LINE = re.compile(
    r"記事の末尾に|フロントマターは追加しない|文字程度になるよう|上記の文章から自然に続く|"
    r"既存の内容を繰り返さない|記事の途切れた部分から|続きを書いてください|AIらしい機械的な表現は避け"
)
# "…ガイドを見る →", "記事を読む →": a short block ending in an arrow is a button-like call to action
_CTA_ARROW = re.compile(r"^.{0,80}(?:見る|読む|はこちら)\s*→$")
_MAX_LINK_ROW_ITEMS = 2  # "主要都市のガイド: 東京都 | 大阪府 | …" after such a CTA has more separators than this
# one case-sensitive pass: IGNORECASE would cost the regex engine its fast literal-prefix scan
_DROP_BLOCK = re.compile(f"{_PROMPT_LINE.pattern}|{AD_BLOCK.pattern}")
# "[本の題名](https://…)" as a heading: a book or post in a footer list, not a section of the article
_LINK_HEADING = re.compile(r"^\s*\[[^\]\n]*\]\([^)\n]*\)\s*$")
# where chatter and call-to-action sentences end: 。！？ with their closing brackets, or ". " in English
_PLAIN_SENTENCE_END = re.compile(r"[。！？]+[」』）)]*\s*|(?<=[.!?])\s+")
_TERMINAL = frozenset("。！？!?.」』）)]】”’\"'…:：;；>")
_VERB_TAIL = re.compile(r"^(?:する(?!と)|され|させ|でき(?!る限り))")
_SHORT_CLAUSE = re.compile(r"^([^\s、。，,]{1,3})[、，,]")
_OPENERS = frozenset(
    {
        "しかし",
        "また",
        "さらに",
        "例えば",
        "一方",
        "特に",
        "そして",
        "まず",
        "次に",
        "では",
        "つまり",
        "正直",
        "実際",
        "今回",
        "結果",
        "ただ",
        "今後",
        "更に",
        "第一に",
        "第二に",
        "最後に",
        "なぜ",
        "だが",
        "でも",
        "確かに",
        "加えて",
        "同時に",
        "従来",
        "現在",
        "近年",
        "今",
        "私",
        "私は",
    }
)
_UNOPENED_CLOSE = re.compile(r"^[^「『\n]{0,30}[」』]")
_RESTART_PROBE = 4
_RESTART_WINDOW = 60
_RESTART_SLACK = 3
_MAX_DANGLING = 120
_CONTINUATION_START = frozenset("のをんっゃゅょぁぃぅぇぉゎーゝゞ、，,。）」』")
_NOISE_CHARS = re.compile(r"[\\{}^$_=|<>]")
# "$2.50" and a short "$E = mc^2$" inside prose are not markup soup
_PRICE_OR_INLINE_MATH = re.compile(r"\$(?=\d)|(?<!\$)\$(?!\$)[^$\n]{1,60}?\$(?!\$)")

# --- near-duplicates ------------------------------------------------------------------------------

_SHINGLE = 3
_ALL_SHINGLES = re.compile(r"(?=(...))", re.DOTALL)
# Index only shingles that start after a common particle (or e/o in Latin text): about one in five,
# chosen by content, so a
# copy or a fragment of a block samples the same shingles as the original (containment survives).
_ANCHORED_SHINGLES = re.compile(r"[のはをにがでともへやるeo](?=(...))")
_MIN_SENTENCE_CHARS = 15
_MAX_POSTING = 12
_MIN_SAMPLE = 12  # below this many anchored shingles, compare full shingle sets
_MAX_QUERY = 24  # a sampled shingle shared by this many blocks carries no signal
_JACCARD_DUP = 0.8
_CONTAIN_DUP = 0.9
_MIN_DUP_CHARS = 12
# A sentence of a near-copy is new when under half of its character 5-grams are in the block it copies
# (a reworded particle leaves most of them: that sentence is the same one)
_GRAM = 5
_NOVEL_SHARE = 0.5
_DEDUP_STRIP = re.compile(r"[\s\W_]+")


def clean_body(markdown: str, title: str | None = None) -> CleanedBody:
    try:
        return _clean(markdown, title)
    except Exception:  # a bad post must not stop ingest of the other 2,500
        logger.exception("cleaning failed; falling back to tag-stripped text")
        text = _strip_inline(str(markdown).replace("\n", " ")) if isinstance(markdown, str) else ""
        blocks = (Block("paragraph", text),) if text else ()
        return CleanedBody(sections=(Section(None, 0, blocks),) if blocks else (), tables=())


def reading_time_minutes(text: str) -> int:
    cjk = 0
    latin_words = 0
    in_word = False
    for ch in text:
        code = ord(ch)
        if 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF:
            cjk += 1
            in_word = False
        elif ch.isalnum():
            if not in_word:
                latin_words += 1
                in_word = True
        elif ch in "'-’" and in_word:
            continue
        else:
            in_word = False
    minutes = cjk / 500 + latin_words / 200
    return max(1, math.ceil(minutes))


# --- implementation -------------------------------------------------------------------------------


@dataclass
class _Raw:
    """A block while it is still being assembled and judged."""

    kind: str  # "heading" | "paragraph" | "list_item" | "quote" | "break"
    text: str
    level: int = 0
    bold_only: bool = False
    link_only: bool = False  # a heading that is nothing but a link
    finished: bool = False  # complete without an end mark (a subtitle): never trimmed as cut


def _clean(markdown: str, title: str | None) -> CleanedBody:
    text = _prepass(markdown)
    tables: list[str] = []
    raws = list(_scan_blocks(text.split("\n"), tables))
    raws = _drop_prompt_and_chatter(raws)
    raws = _rejoin_cut_sentences(raws)
    raws = _dedupe(raws)
    if title and (title_key := _dedup_key(title)):
        raws = _subtitle_for_title_line(raws, title_key)
    # dropping repeats brings a cut chunk next to its continuation; what is still cut is trimmed
    raws = _rejoin_cut_sentences(raws, trim=True)
    sections = _build_sections(raws, title)
    if "\ue000" in text or "\ue001" in text:  # give {% raw %} text its braces back
        sections = [
            Section(
                s.heading and s.heading.translate(_RAW_BRACES_BACK),
                s.level,
                tuple(Block(b.kind, b.text.translate(_RAW_BRACES_BACK)) for b in s.blocks),
            )
            for s in sections
        ]
        tables = [table.translate(_RAW_BRACES_BACK) for table in tables]
    return CleanedBody(sections=tuple(sections), tables=tuple(tables))


def _prepass(markdown: str) -> str:
    text = markdown.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if "<" in text:
        text = _HTML_COMMENT.sub("", text)
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


def _scan_blocks(lines: list[str], tables: list[str]) -> Iterable[_Raw]:
    """Split lines into raw blocks; tables go to `tables`, code and markup noise is dropped."""
    para: list[str] = []
    para_kind = "paragraph"
    in_fence: str | None = None
    i = 0
    n = len(lines)
    # A third of a post's paragraphs repeat earlier ones byte for byte: strip each text once.
    stripped_texts: dict[str, str] = {}

    def flush() -> _Raw | None:
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
            cleaned = stripped_texts[raw_text] = _strip_inline(raw_text)
        if not cleaned or not any(ch.isalnum() for ch in cleaned):
            return None
        return _Raw(kind, cleaned, bold_only=bold_only)

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
            yield _Raw("break", "")
            continue
        heading = _ATX.match(line)
        if heading and not (len(heading.group(1)) == 1 and not line.lstrip().startswith("# ")):
            if (raw := flush()) is not None:
                yield raw
            htext = _strip_inline(heading.group(2))
            if htext:
                link_only = _LINK_HEADING.match(heading.group(2)) is not None
                yield _Raw("heading", htext, level=len(heading.group(1)), link_only=link_only)
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
                _strip_inline(cell)
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


def _sub_bracketed(pattern: re.Pattern[str], repl: str, text: str, opener: str) -> str:
    """`pattern.sub(repl, text)` in linear time, for a pattern opening with `opener` and text up to "]".

    re retries such a pattern at every "[" and each try reads up to the next "]" or newline:
    40,000 "[" then "]" took 24 s. All openers before the same "]" or newline end the same
    way, so when the first of them fails, the others are skipped without trying.
    """
    out: list[str] = []
    copied = position = 0
    while (start := text.find(opener, position)) >= 0:
        match = pattern.match(text, start)
        if match is None:
            stop = _BRACKET_SEGMENT_END.search(text, start + len(opener))
            position = len(text) if stop is None else max(stop.start(), start + 1)
            continue
        out.append(text[copied:start])
        out.append(match.expand(repl))
        copied = position = match.end()
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)


def _strip_inline(text: str) -> str:
    if "[" in text and "]" in text:  # every pattern needs both: a run of "[" alone is not scanned
        text = _sub_bracketed(_IMAGE, "", text, "![")
        text = _sub_bracketed(_FOOTNOTE, "", text, "[^")
        text = _sub_bracketed(_LINK, r"\1", text, "[")
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


def _drop_prompt_and_chatter(raws: list[_Raw]) -> list[_Raw]:
    """Remove leaked generation prompts, footer blocks, calls to action and pipeline chatter.

    A footer block (a heading such as 「あわせて読みたい」 or 「技術選定のご相談を承っています」 and
    what it holds) ends at the next horizontal rule or at the next heading that is neither a
    footer heading nor a bare link (the books of an affiliate list): the generated article often
    goes on after it. Chatter and calls to action go by the sentence, so the prose around them
    stays.
    """
    out: list[_Raw] = []
    verdicts: dict[str, str | None] = {}  # repeated blocks are judged once
    in_prompt = False
    after_cta = False  # the row of links that follows an arrow call to action goes with it
    in_footer = False
    for raw in raws:
        if raw.kind == "heading":
            in_prompt = False
            after_cta = False
            if FOOTER_HEADING.search(raw.text) or (in_footer and raw.link_only):
                in_footer = True
                continue
            in_footer = False
            out.append(raw)
            continue
        if raw.kind == "break":
            in_footer = False
            out.append(raw)
            continue
        if in_footer:
            continue
        if _PROMPT_HEADER.match(raw.text):
            in_prompt = True
            continue
        if in_prompt:
            if _PROMPT_END.match(raw.text):
                in_prompt = False
            continue
        text = raw.text
        if text[-1] == "→" and _CTA_ARROW.match(text):
            after_cta = True
            continue
        if after_cta and text.count(" | ") > _MAX_LINK_ROW_ITEMS and "。" not in text:
            continue
        after_cta = False
        if text in verdicts:
            kept = verdicts[text]
        else:
            kept = verdicts[text] = _kept_text(text)
        if kept is not None:
            out.append(raw if kept is text else _Raw(raw.kind, kept, bold_only=raw.bold_only))
    return out


def _kept_text(text: str) -> str | None:
    """The block's text without chatter and call-to-action sentences; None when nothing is left."""
    if _DROP_BLOCK.search(text) or _is_noise(text):
        return None
    if not (_CHATTER.search(text) or CALL_TO_ACTION.search(text)):
        return text
    kept: list[str] = []
    in_chatter = False
    start = 0
    for match in chain(_PLAIN_SENTENCE_END.finditer(text), (None,)):
        end = match.end() if match is not None else len(text)
        sentence = text[start:end]
        start = end
        if not sentence.strip():
            continue
        if _CHATTER.match(sentence):
            in_chatter = True
            continue
        if in_chatter and sentence.isascii():  # the pipeline goes on talking in English
            continue
        in_chatter = False
        if not CALL_TO_ACTION.search(sentence):
            kept.append(sentence)
    rest = "".join(kept).strip()
    return rest if any(ch.isalnum() for ch in rest) else None


def _is_noise(text: str) -> bool:
    """TeX-like or symbol soup: many markup characters outside prices and short inline formulas."""
    if len(text) < 20 or not ("\\" in text or "{" in text or "$" in text or "^" in text or "=" in text):
        return False
    counted = text
    if "$" in text:
        rest = _PRICE_OR_INLINE_MATH.sub("", text)
        if 2 * len(rest) >= len(text):  # mostly words around prices or short formulas: judge the words
            counted = rest
    return len(_NOISE_CHARS.findall(counted)) / len(text) > 0.06


def _is_cut(raw: _Raw) -> bool:
    if raw.kind not in ("paragraph", "list_item", "quote") or raw.bold_only or raw.finished:
        return False
    text = raw.text
    return len(text) >= 30 and text[-1] not in _TERMINAL


def _rejoin_cut_sentences(raws: list[_Raw], trim: bool = False) -> list[_Raw]:
    """Glue a sentence cut at a chunk border back onto its continuation.

    The next chunk often restarts a few words (or the whole paragraph) before
    the cut, so the longest tail of the cut text that the continuation starts
    with is merged once rather than repeated.
    """
    out: list[_Raw] = []
    i = 0
    n = len(raws)
    while i < n:
        raw = raws[i]
        i += 1
        if _is_cut(raw):
            j = i
            while j < n and raws[j].kind == "break":
                j += 1
            if j < n and raws[j].kind in ("paragraph", "list_item", "quote"):
                # list items end without 。: only a restart of its tail ties one item to the next
                overlap_only = raw.kind == "list_item" and raws[j].kind == "list_item"
                merged = _merge(raw.text, raws[j].text, overlap_only)
                if merged is not None:
                    raws[j] = _Raw(raw.kind, merged)
                    i = j
                    continue
            if trim and not (j < n and raws[j].kind == "list_item"):
                raw = _Raw(raw.kind, _trim_unfinished(raw.text), bold_only=raw.bold_only)
        out.append(raw)
    return out


def _merge(head: str, tail: str, overlap_only: bool = False) -> str | None:
    limit = min(len(head), len(tail))
    for k in range(limit, _RESTART_PROBE - 1 if overlap_only else 0, -1):
        if head.endswith(tail[:k]) and (k > 1 or not tail[0].isascii()):
            return head + tail[k:]
    # the continuation restarts a few words back and rewrites the word that was cut ("気象シ" / "気象観測")
    probe = tail[:_RESTART_PROBE]
    if len(probe) == _RESTART_PROBE:
        at = head.rfind(probe, max(0, len(head) - _RESTART_WINDOW))
        if at >= 0:
            common = _common_prefix_len(head[at:], tail)
            if at + common >= len(head) - _RESTART_SLACK:
                return head[:at] + tail
    if overlap_only:
        return None
    if tail[0] in _CONTINUATION_START or _UNOPENED_CLOSE.match(tail) or _VERB_TAIL.match(tail):
        return head + tail
    # "重ね、…" / "法、…": a clause too short to open a sentence, unless it is a usual connective
    clause = _SHORT_CLAUSE.match(tail)
    if clause and clause.group(1) not in _OPENERS:
        return head + tail
    return None


def _common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


# A tail that ends like a sentence ("…させるものです") or is a flattened list's "label: value" item
# is finished, only its 。 is missing. Cut ones end mid-phrase: "…物理的に", "…洗練されたア".
_MAX_SUBTITLE = 40
_LOOKS_FINISHED = re.compile(r"(?:です|ます|ません|ました|でした|だった)\s*$|[:：]\s+\S[^。！？]*$")


def _trim_unfinished(text: str) -> str:
    """Cut a dangling sentence fragment off the end: it lost its continuation to the chunk border."""
    end = max(text.rfind(mark) for mark in "。！？")
    if end <= 0 or len(text) - end > _MAX_DANGLING or _LOOKS_FINISHED.search(text):
        return text
    tail = text[end + 1 :]
    if text[end] != "。" and len(tail) <= _MAX_SUBTITLE and "、" not in tail:
        return text  # "…の真意とは？AIインフラ投資の巨大な波が示す未来": a subtitle after a question
    while end + 1 < len(text) and text[end + 1] in "」』）)":
        end += 1
    return text[: end + 1]


def _dedup_key(text: str) -> str:
    # strip first: NFKC then mostly sees text it leaves alone, which is its fast path
    return fold(_DEDUP_STRIP.sub("", text))


def _shingles(key: str) -> set[str]:
    if len(key) <= _SHINGLE:
        return {key}
    return set(_ALL_SHINGLES.findall(key))


def _grams(key: str) -> set[str]:
    if len(key) <= _GRAM:
        return {key}
    return {key[i : i + _GRAM] for i in range(len(key) - _GRAM + 1)}


def _anchored(key: str) -> set[str]:
    """Shingles starting right after a particle: content-defined, so a copy samples the same ones."""
    sampled = set(_ANCHORED_SHINGLES.findall(key))
    return sampled if len(sampled) >= 3 else _shingles(key)


class _Deduper:
    """Remembers what a post has said so far, to recognise a block or sentence said again."""

    def __init__(self) -> None:
        self.exact: set[str] = set()
        self.exact_text: set[str] = set()
        self.sentences: set[str] = set()
        self.kept: list[_Raw] = []
        self.keys: list[str] = []
        self.shingles: list[set[str] | None] = []  # full shingle sets, built only when compared
        self.sampled: list[set[str]] = []
        self.position: list[int] = []  # index into `kept` for each indexed block
        self.postings: defaultdict[str, list[int]] = defaultdict(list)
        self.grams: dict[int, set[str]] = {}  # character 5-grams of a block, built when a near-copy meets it

    def add(self, raw: _Raw) -> None:
        if raw.kind in ("break", "heading"):
            self.kept.append(raw)
            return
        if raw.text in self.exact_text:  # most repeats are byte-for-byte: skip normalising them
            return
        self.exact_text.add(raw.text)
        key = _dedup_key(raw.text)
        if not key or key in self.exact:
            return
        self.exact.add(key)
        if len(key) < _MIN_DUP_CHARS:
            self.kept.append(raw)
            return
        sampled = _anchored(key)
        duplicate_of, contained, nearby = self._find_similar(key, sampled)
        if duplicate_of is not None:
            # a near-copy often rewrites a paragraph and adds a sentence of its own: keep that one
            novel = self._novel_sentences(raw.text, duplicate_of)
            if novel is None:
                return
            raw = _Raw(raw.kind, novel, bold_only=raw.bold_only)
            key = _dedup_key(novel)
            sampled = _anchored(key)
            if len(key) < _MIN_DUP_CHARS or self._find_similar(key, sampled)[0] is not None:
                return
            contained = []
        # a copy already replaced by a fuller one has no place of its own left to take
        contained = [ident for ident in contained if self.kept[self.position[ident]] is not _DROPPED]
        if contained:
            # an earlier, shorter copy (often a truncated chunk): put the fuller one in its place,
            # and drop whatever was kept since that this one also says
            first = contained[0]
            earlier = self.kept[self.position[first]]
            self.kept[self.position[first]] = _Raw(earlier.kind, raw.text)
            self.keys[first] = key
            self.shingles[first] = None
            self.sampled[first] = sampled
            for shingle in sampled:
                posting = self.postings[shingle]
                if first not in posting:
                    posting.append(first)
            for ident in nearby:
                pos = self.position[ident]
                if ident <= first or self.kept[pos] is _DROPPED:
                    continue
                mine, other = self._pair(key, sampled, ident)
                if ident in contained or len(mine & other) >= _CONTAIN_DUP * len(other):
                    self.kept[pos] = _DROPPED
            self._remember_sentences(sentence_pieces(raw.text))
            return
        pieces = sentence_pieces(raw.text)
        text = self._without_seen_sentences(raw.text, pieces)
        if text is None:
            return
        if text != raw.text:
            raw = _Raw(raw.kind, text, bold_only=raw.bold_only)
            key = _dedup_key(text)
            sampled = _anchored(key)
            if self._find_similar(key, sampled)[0] is not None:
                return
            pieces = sentence_pieces(text)
        self._remember_sentences(pieces)
        ident = len(self.shingles)
        self.keys.append(key)
        self.shingles.append(None)
        self.sampled.append(sampled)
        self.position.append(len(self.kept))
        postings = self.postings
        for shingle in sampled:
            postings[shingle].append(ident)
        self.kept.append(raw)

    def _pair(self, key: str, sampled: set[str], ident: int) -> tuple[set[str], set[str]]:
        """Shingle sets to compare: the anchored samples, or full sets when a sample is too small to judge."""
        other = self.sampled[ident]
        if len(sampled) >= _MIN_SAMPLE and len(other) >= _MIN_SAMPLE:
            return sampled, other
        shingles = self.shingles[ident]
        if shingles is None:
            shingles = self.shingles[ident] = _shingles(self.keys[ident])
        return _shingles(key), shingles

    def _find_similar(self, key: str, sampled: set[str]) -> tuple[int | None, list[int], Counter[int]]:
        """The block this one repeats (if any), the earlier blocks it contains, and all that share a shingle."""
        postings = self.postings
        counts = Counter(
            chain.from_iterable(
                posting
                for shingle in sampled
                if (posting := postings.get(shingle)) is not None and len(posting) <= _MAX_POSTING
            )
        )
        contained: list[int] = []
        own_half = max(1, len(sampled) // 2)
        all_sampled = self.sampled
        for cand, shared in sorted(counts.items()):  # earliest first, whatever the hash seed
            # at least half of the smaller sample in common, or it cannot be a near-copy
            if shared < own_half and shared < max(1, len(all_sampled[cand]) // 2):
                continue
            mine, other = self._pair(key, sampled, cand)
            inter = len(mine & other)
            if inter >= _CONTAIN_DUP * len(other) and len(key) >= len(self.keys[cand]) + _MIN_SENTENCE_CHARS:
                # this copy says all the earlier one does and at least a sentence more: the fuller one wins
                contained.append(cand)
                continue
            if inter / (len(mine) + len(other) - inter) >= _JACCARD_DUP or inter >= _CONTAIN_DUP * len(mine):
                return cand, [], counts
            if inter >= _CONTAIN_DUP * len(other):
                contained.append(cand)
        return None, sorted(contained), counts

    def _novel_sentences(self, text: str, ident: int) -> str | None:
        """The sentences of `text` that block `ident` does not already say (most of their 5-grams absent)."""
        grams = self.grams.get(ident)
        if grams is None:
            grams = self.grams[ident] = _grams(self.keys[ident])
        novel = []
        for piece in sentence_pieces(text):
            key = _dedup_key(piece)
            if len(key) < _MIN_SENTENCE_CHARS or piece.strip() in self.sentences:
                continue
            own = _grams(key)
            if len(own & grams) < _NOVEL_SHARE * len(own):
                novel.append(piece)
        return "".join(novel).strip() or None

    def _without_seen_sentences(self, text: str, pieces: list[str]) -> str | None:
        """Drop sentences already said; None when nothing new is left."""
        keys = [piece.strip() for piece in pieces]
        seen = self.sentences
        drop = [len(k) >= _MIN_SENTENCE_CHARS and k in seen for k in keys]
        if not any(drop):
            return text
        rest = "".join(p for p, d in zip(pieces, drop, strict=True) if not d).strip()
        if len(_dedup_key(rest)) < _MIN_SENTENCE_CHARS:
            return None
        return rest

    def _remember_sentences(self, pieces: list[str]) -> None:
        # repeated chunks are byte-for-byte copies, so sentences skip NFKC: this runs on every block
        self.sentences.update(key for piece in pieces if len(key := piece.strip()) >= _MIN_SENTENCE_CHARS)


_DROPPED = _Raw("break", "")


def _dedupe(raws: list[_Raw]) -> list[_Raw]:
    """Keep the first (or the complete, if the first was truncated) of near-identical blocks."""
    deduper = _Deduper()
    for raw in raws:
        deduper.add(raw)
    return [raw for raw in deduper.kept if raw is not _DROPPED]


def _build_sections(raws: list[_Raw], title: str | None) -> list[Section]:
    sections: list[Section] = []
    heading: str | None = None
    level = 0
    blocks: list[Block] = []
    seen_headings: set[str] = set()
    title_key = _dedup_key(title) if title else ""
    first_content = True

    def close() -> None:
        if heading is None and not blocks:
            return
        key = _dedup_key(heading) if heading else ""
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


def _subtitle_for_title_line(raws: list[_Raw], title_key: str) -> list[_Raw]:
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
        return [*raws[:index], _Raw("paragraph", kept, finished=True), *raws[index + 1 :]]
    return raws


def _restates(text: str, title_key: str) -> bool:
    key = _dedup_key(text)
    if not key:
        return False
    if key == title_key:
        return True
    if len(key) > 2 * len(title_key) + 10:
        return False
    a, b = _shingles(key), _shingles(title_key)
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) >= 0.6 or inter / min(len(a), len(b)) >= 0.9


def _looks_like_prose(text: str) -> bool:
    if len(text) < 15 or _CHATTER.match(text):
        return False
    letters = sum(1 for ch in text if ch.isalpha())
    if letters / len(text) < 0.5:
        return False
    terminators = sum(text.count(ch) for ch in "。！？")
    terminators += len(re.findall(r"[.!?](?:\s|$)", text))
    return terminators > 0
