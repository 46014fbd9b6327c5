"""Judging blocks: leaked prompts, footer blocks, calls to action and chatter go; cut sentences are rejoined.

The pipeline cut sentences at chunk borders and often restarted the next chunk a few words
back: rejoining merges the overlap once; what stays cut after de-duplication is trimmed.
"""

from __future__ import annotations

import re

from bot.content.boilerplate import AD_BLOCK, CALL_TO_ACTION, FOOTER_HEADING
from bot.content.boilerplate import CHATTER as _CHATTER
from bot.content.markdown_blocks import Raw
from bot.content.sentences import sentence_pieces

__all__ = ["drop_prompt_and_chatter", "rejoin_cut_sentences"]

# --- boilerplate, leaked prompts, chatter ---------------------------------------------------------

_PROMPT_HEADER = re.compile(r"^【(?:要求事項|文体の指示|注意|指示|制約|出力形式|前提|条件|執筆ルール|記事の構成)】")
_PROMPT_END = re.compile(r"^(?:続きを書いてください|以下に続きを|それでは続きを)")
# 【既存の記事の最後の部分】 labels a quote of the article so far, which the next draft then
# continues: the label goes, the quote is article text (the deduper drops what repeats)
_QUOTE_LABEL = re.compile(r"^【既存の記事[^】]*】\s*")
# an instruction of a prompt's list, when it is not written as a list item: "…書いてください。"
_INSTRUCTION = re.compile(r"ください[。：:]?\s*$")
_PROMPT_LINE = re.compile(
    r"記事の末尾に|フロントマターは追加しない|文字程度になるよう|上記の文章から自然に続く|"
    r"既存の内容を繰り返さない|記事の途切れた部分から|続きを書いてください|AIらしい機械的な表現は避け"
)
# "…ガイドを見る →", "記事を読む →": a short block ending in an arrow is a button-like call to action
_CTA_ARROW = re.compile(r"^.{0,80}(?:見る|読む|はこちら)\s*→$")
_MAX_LINK_ROW_ITEMS = 2  # "主要都市のガイド: 東京都 | 大阪府 | …" after such a CTA has more separators than this
# one case-sensitive pass: IGNORECASE would cost the regex engine its fast literal-prefix scan
_DROP_BLOCK = re.compile(f"{_PROMPT_LINE.pattern}|{AD_BLOCK.pattern}")
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


def drop_prompt_and_chatter(raws: list[Raw]) -> list[Raw]:
    """Remove leaked generation prompts, footer blocks, calls to action and pipeline chatter.

    A prompt is an instruction header (【要求事項】, 【注意】…), its list of instructions and its
    closing request (「続きを書いてください」); any other block ends it, so a prompt left unclosed
    cannot take the rest of the post (later drafts, glued after it) with it.

    A footer block (a heading such as 「あわせて読みたい」 or 「技術選定のご相談を承っています」 and
    what it holds) ends at the next horizontal rule or at the next heading that is neither a
    footer heading nor a bare link (the books of an affiliate list): the generated article often
    goes on after it. Chatter and calls to action go by the sentence, so the prose around them
    stays.
    """
    out: list[Raw] = []
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
            in_prompt = False
            out.append(raw)
            continue
        if in_footer:
            continue
        text = raw.text
        if in_prompt:
            if _PROMPT_END.match(text):
                in_prompt = False
                continue
            if raw.kind == "list_item" or _INSTRUCTION.search(text):
                continue
            in_prompt = False
        if _PROMPT_HEADER.match(text):
            in_prompt = True
            continue
        if text.startswith("【既存の記事") and (label := _QUOTE_LABEL.match(text)):
            text = text[label.end() :]
            if not text:
                continue
            raw = Raw(raw.kind, text, bold_only=raw.bold_only)
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
            out.append(raw if kept is text else Raw(raw.kind, kept, bold_only=raw.bold_only))
    return out


def _kept_text(text: str) -> str | None:
    """The block's text without chatter and call-to-action sentences; None when nothing is left."""
    if _DROP_BLOCK.search(text) or _is_noise(text):
        return None
    if not (_CHATTER.search(text) or CALL_TO_ACTION.search(text)):
        return text
    kept: list[str] = []
    in_chatter = False
    for sentence in sentence_pieces(text):
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


def _is_cut(raw: Raw) -> bool:
    if raw.kind not in ("paragraph", "list_item", "quote") or raw.bold_only or raw.finished:
        return False
    text = raw.text
    return len(text) >= 30 and text[-1] not in _TERMINAL


def rejoin_cut_sentences(raws: list[Raw], trim: bool = False) -> list[Raw]:
    """Glue a sentence cut at a chunk border back onto its continuation.

    The next chunk often restarts a few words (or the whole paragraph) before
    the cut, so the longest tail of the cut text that the continuation starts
    with is merged once rather than repeated.
    """
    out: list[Raw] = []
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
                    raws[j] = Raw(raw.kind, merged)
                    i = j
                    continue
            if trim and not (j < n and raws[j].kind == "list_item"):
                raw = Raw(raw.kind, _trim_unfinished(raw.text), bold_only=raw.bold_only)
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
