"""A page's main text as trafilatura's Markdown, without the serializer's costly copy and escape pass.

trafilatura's Markdown output (`xmltotxt` with formatting) was a third of a backfill's extraction:
it deep-copies the extracted tree to protect the caller's copy, which a backfill never reads again,
and runs its CommonMark escaping and LaTeX pass over every text node, where post prose rarely holds
one of the characters that pass changes. Here the same steps run, from trafilatura's own functions,
on the tree `bare_extraction` returns (it is ours, so it is not copied), and a text node goes
through the escaping pass only when it holds one of the characters it acts on; the text is the one
`trafilatura.extract(output_format="markdown")` gives (held by
tests/bot/sources/test_web_page_extraction.py on every page of the fixtures). The serializer's
steps are trafilatura's private functions: when a release no longer has them, `markdown_of` takes
the library's whole road, `trafilatura.extract`.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Callable

import lxml.html
import trafilatura
from lxml.etree import _Element

try:
    from trafilatura import xml as _serializer
    from trafilatura.utils import sanitize as _sanitize

    _STEPS = (
        _serializer._escape_and_convert_math,
        _serializer._collapse_emphasis,
        _serializer._merge_adjacent_hi,
        _serializer._strip_block_whitespace,
        _serializer.process_element,
    )
    _CODE_RENDS = {rend for rend, mark in _serializer.HI_FORMATTING.items() if mark == "`"}
    # what the escaping pass acts on: CommonMark's inline specials, and the backslash of `\(`/`\[` math
    _TOUCHED = re.compile("[" + re.escape("".join(_serializer._INLINE_SPECIAL_CHARS)) + r"\\]")
except (ImportError, AttributeError):  # another trafilatura: its own road
    _STEPS = ()

log = logging.getLogger(__name__)

OPTIONS = {
    "include_formatting": True,
    "include_links": False,
    "include_images": False,
    "include_tables": True,
    "include_comments": False,
    "favor_recall": True,
}


def markdown_of(document: str | lxml.html.HtmlElement, *, fast: bool) -> str | None:
    """`trafilatura.extract(document, output_format="markdown", **OPTIONS, fast=fast)`, made cheaper."""
    if not _STEPS:
        return trafilatura.extract(document, output_format="markdown", fast=fast, **OPTIONS)
    extracted = trafilatura.bare_extraction(document, output_format="markdown", fast=fast, **OPTIONS)
    if extracted is None:
        return None
    text = _body_markdown(extracted.body)
    if extracted.commentsbody is not None:
        text = f"{text}\n{_body_markdown(extracted.commentsbody)}".strip()
    return unicodedata.normalize("NFC", text)


def _body_markdown(body: _Element | None) -> str:
    """trafilatura's `xmltotxt(body, include_formatting=True)`, on the tree itself (no copy)."""
    if body is None:
        return ""
    escape_and_convert_math, collapse_emphasis, merge_adjacent_hi, strip_block_whitespace, process_element = _STEPS
    _escape_tree(body, escape_and_convert_math)
    collapse_emphasis(body)
    merge_adjacent_hi(body)
    strip_block_whitespace(body)
    parts: list[str] = []
    process_element(body, parts, True)
    return html.unescape(_sanitize("".join(parts), True) or "")


def _escape_tree(element: _Element, escape_and_convert_math: Callable[[str], str]) -> None:
    """trafilatura's `_escape_and_convert_math_tree`, passing over the texts it would leave as they are.

    Code stays verbatim (a `code` element, or `hi` rendered as code); a code element's tail is prose.
    """
    if element.tag == "code" or (element.tag == "hi" and element.get("rend") in _CODE_RENDS):
        return
    if element.text and _TOUCHED.search(element.text):
        element.text = escape_and_convert_math(element.text)
    for child in element:
        _escape_tree(child, escape_and_convert_math)
        if child.tail and _TOUCHED.search(child.tail):
            child.tail = escape_and_convert_math(child.tail)
