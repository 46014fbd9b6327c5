"""Extractive summaries of the blog's articles, for Japanese and English text.

The posts were written by an LLM pipeline: lead lines restate the title, a chatty
first-person persona opens most articles, paragraphs repeat, and chunk markers
or prompt text leak into the body. An abstractive model is out of scope (no GPU,
no network at ingest), so the summary is a handful of the article's own
sentences. Everything here is about choosing sentences a reader would rather
read than the article: opened by the news the opening states (after the persona's
chat), then central ones (LexRank-style degree centrality over runs of kanji,
katakana and Latin letters for Japanese, words for English), early and under
summary-like headings, spread across sections, never redundant, never broken,
never boilerplate, rarely leaning on a sentence the reader has not seen. When
nothing usable is left the summary is honestly empty.

Speed matters (ingest recomputes every post when `SUMMARIZER_VERSION` changes
and the bench asks for 200 posts/s on one core), and numpy is not a dependency,
so the centrality is computed in one linear pass: with L2-normalised TF-IDF
vectors the sum of a sentence's cosine similarities to all others equals its
dot product with the sum of all vectors. The hard rules (residue, fragments,
boilerplate, title restatements) and character 3-grams are computed only for the
sentences selection actually reaches.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from bot.content.textnorm import nfkc

if TYPE_CHECKING:
    from bot.content.cleaning import CleanedBody

log = logging.getLogger(__name__)

SUMMARIZER_VERSION = "8"

DISCORD_EMBED_DESCRIPTION_LIMIT = 4096
NO_SUMMARY_TEXT = "要約はありません (no summary available)"


class SummaryLength(StrEnum):
    SHORT = "short"
    STANDARD = "standard"
    LONG = "long"


@dataclass(frozen=True)
class Summary:
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        """Japanese sentences run together; a space only where two Latin-script sentences meet."""
        out: list[str] = []
        for sentence in self.sentences:
            if out and _needs_space(out[-1], sentence):
                out.append(" ")
            out.append(sentence)
        return "".join(out)

    @property
    def available(self) -> bool:
        return bool(self.sentences)


def _needs_space(previous: str, following: str) -> bool:
    return previous[-1:].isascii() and following[:1].isascii()


# --------------------------------------------------------------------------- sentence splitting

_OPENERS = "「『（(【〔［《〈“‘"
_CLOSERS = "」』）)】〕］》〉”’"
_PAIR = dict(zip(_OPENERS, _CLOSERS, strict=True))
_TRAILING_CLOSERS = set(_CLOSERS) | {'"', "'"}
_BRACKET_RE = re.compile(f"[{re.escape(_OPENERS + _CLOSERS)}]")
# A run of terminators (。！？ in both widths, ASCII . ! ?) with any closing brackets after it.
_TERMINATOR_RE = re.compile(r"[。｡．！？!?.]+[" + re.escape(_CLOSERS) + "\"']*")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "eg",
        "ie",
        "inc",
        "ltd",
        "co",
        "corp",
        "no",
        "fig",
        "figs",
        "approx",
        "est",
        "dept",
        "univ",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.k",
        "a.m",
        "p.m",
        "ph.d",
        "al",
        "cf",
        "ca",
        "vol",
        "op",
    ]
)
_WORD_BEFORE_RE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def _matched_openers(text: str) -> dict[int, int]:
    """Opening bracket position → its closing position, for balanced pairs only.

    An unbalanced 「 (a cut paragraph, a typo) must not swallow the rest of the
    paragraph into one sentence, so only brackets that really close count.
    """
    stack: list[tuple[int, str]] = []
    pairs: dict[int, int] = {}
    for m in _BRACKET_RE.finditer(text):
        ch = m.group()
        if ch in _PAIR:
            stack.append((m.start(), _PAIR[ch]))
            continue
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth][1] == ch:
                pairs[stack[depth][0]] = m.start()
                del stack[depth:]
                break
    return pairs


def _inside_brackets(pairs: dict[int, int], pos: int) -> bool:
    return any(start < pos < end for start, end in pairs.items())


def _is_boundary(text: str, start: int, end: int) -> bool:
    """Whether the terminator run text[start:end] ends a sentence."""
    run = text[start:end]
    nxt = text[end] if end < len(text) else ""
    prev = text[start - 1] if start else ""
    core = run.rstrip(_CLOSERS + "\"'")
    if core != run and nxt in "とっ":
        return False  # 「すごい！」と思った: the closing bracket quotes into the sentence.
    if any(c in "。｡！？" for c in core):
        return True
    if "．" in core and not (prev.isdigit() and nxt.isdigit()):
        return True
    if core in ("!", "?", "!?", "?!") or set(core) <= {"!", "?"}:
        # "Yahoo!ニュース", "Hey!Say": a Latin word glued to what follows is a name.
        return not (prev.isascii() and prev.isalnum() and nxt and not nxt.isspace())
    # ASCII periods from here on.
    if not nxt:
        return True
    if not nxt.isspace():
        # Decimals, versions (GPT-4.1), domains, "U.S." inside words; but a Japanese
        # character glued after "." in Japanese text is a new sentence, unless the "."
        # ends an abbreviation ("…Technology Inc.が提供する").
        if nxt.isascii() or prev.isdigit():
            return False
        m = _WORD_BEFORE_RE.search(text, 0, start)
        return not (m and m.group(1).lower().rstrip(".") in _ABBREVIATIONS)
    if core != "." and core.endswith("."):
        return True  # "..." ellipsis followed by space: treat as an end.
    m = _WORD_BEFORE_RE.search(text, 0, start)
    if m:
        word = m.group(1).lower().rstrip(".")
        if word in _ABBREVIATIONS or (len(m.group(1)) == 1 and m.group(1).isupper()):
            return False
    if prev.isdigit() and not text[:start].strip(" 0123456789"):
        return False  # a list number at the very start: "1. "
    after = text[end:].lstrip()
    return not (after[:1].islower() and after[:1].isascii())


def split_sentences(text: str) -> list[str]:
    """Split plain text into sentences; a newline always ends one.

    Rules (each has a test): 。！？ and their half-width/full-width forms end a
    sentence; 。 inside 「」『』（） does not; closing brackets after a
    terminator stay with it; decimals and names such as GPT-4.1 or
    Yahoo!ニュース do not split; English abbreviations (Mr., e.g., U.S.) and
    initials do not end sentences.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        pairs = _matched_openers(line) if _BRACKET_RE.search(line) else {}
        begin = 0
        for m in _TERMINATOR_RE.finditer(line):
            start, end = m.span()
            if pairs and _inside_brackets(pairs, start):
                continue
            # A lone 。 always ends one; every other run goes through the rules.
            if (end - start != 1 or line[start] != "。") and not _is_boundary(line, start, end):
                continue
            piece = line[begin:end].strip()
            if piece:
                sentences.append(piece)
            begin = end
        rest = line[begin:].strip()
        if rest:
            sentences.append(rest)
    return sentences


# --------------------------------------------------------------------------- sentence quality rules

# Split in two so that `re` can skip ahead on the first character instead of trying every
# branch at every position: an anchored start pattern and an unanchored one.
_RESIDUE_START_RE = re.compile(r"\s*(?:#{1,6}\s|[-*+]\s|>|\d+\.\s)")
_RESIDUE_RE = re.compile(
    r"\*\*|__|`|~~|\s#{2,6}\s|\]\(|</?[A-Za-z][^>]*>|&[a-zA-Z]+;|&#\d+;"
    r"|\{%|%\}|\{\{|\}\}|-{3,}|END-{2,}|\|[^|]*\||\\[A-Za-z]+|\$\$|https?://"
)
_TERMINAL_END_RE = re.compile(r"[。｡．！？!?.][" + re.escape(_CLOSERS) + "\"']*$")
# A sentence cannot start with a particle, auxiliary, small kana or closing punctuation:
# that is the tail of a sentence cut in two ("…例えば、モデル" / "の推論コスト、…").
_FRAGMENT_START_RE = re.compile(
    r"^(?:[をがはのにへっゃゅょぁぃぅぇぉャュョァィゥェォッーん、。，．・：；:;,.!?！？"
    + re.escape(_CLOSERS)
    + r"]|で(?!は|も|す|き)|と(?!は|こ|も|り|く|き|て|に)|も(?!ち|し|っ|は|う|と|の)|て|や(?!は|が|っ|や))"
)
_LOWER_WORD_START_RE = re.compile(r"^[a-z][a-z]+\b")
_META_RE = re.compile(
    r"文字数|字数|記事の末尾|---END---|指示に従|以下の記事|プロンプト(?:に従|の指示)|出力してください|生成しました"
)
_META_EN_RE = re.compile(
    r"the article has been generated|i will now|character count|word count|as an ai\b|here is the article"
)
_CTA_RE = re.compile(
    r"無料相談|お問い合わせ|お問合せ|ご相談ください|お気軽に|資料請求|ご利用ください|お申し込み|お申込み|"
    r"詳しくはこちら|こちらから|こちらをご覧|クリック|ダウンロードして|登録して|フォローして|シェアして|"
    r"関連記事|続きを読む|広告|スポンサー|PR:|目次|この記事では|本記事では|本稿では|この記事を"
)
_CTA_EN_RE = re.compile(r"contact us|sign up|subscribe|click here|read more|\bpr\b")
# Greetings and talk to the reader, split by where they may occur so that each check is one cheap
# pass: an opening (matched at the start), phrases anywhere, and endings (str.endswith).
_GREETING_START_RE = re.compile(
    r"いやはや|いやー|いや、|やあ|ねぇ|ねえ|おや|皆さん、こんにちは|みなさん、こんにちは|こんにちは|"
    r"皆さん|みなさん|さて、|え、|ええ、|うーん|なるほど"
)
_GREETING_RE = re.compile(
    r"驚きましたね|ですよね[。！]|ますよね[。！]|じゃないかな|んですよ[。！]|ましたか[？?。]|ませんか[？?。]"
)
_GREETING_ENDS = (
    "よね。",
    "だね。",
    "かな？",
    "かな?",
    "かな。",
    "でしょう？",
    "でしょう?",
    "でしょうか？",
    "でしょうか?",
    "でしょうか。",
)
_PERSONA_RE = re.compile(
    r"私|僕|正直|またか|また来たか|20年|二十年|あなた|君も|皆さん|みなさん|感じているかもしれ|思わず|"
    r"懐疑的|個人的|古参|ワクワク|わくわく|ですね[。！]|ましたね|ですよ[。！]|ますよ[。！]|!|！|"
    r"からね|でもね|ましたよ|よね|んです[。よね]|と感じています|と見ています|見てきた|見てきま|この業界|業界に入|"
    r"ちょっと|なんと|驚きです|と直感|思いませんか|楽しみ|じゃない|なんだ|んだ[。よね]"
)
# Advice to a reader group ("技術者にとっては…", "…してください。"): the article's side points, not its news.
_ADVICE_START_RE = re.compile(
    r"(?:技術者|エンジニア|投資家|開発者|経営者|読者|ビジネスリーダー|企業の皆様)(?:の方々)?(?:にとって|としては|は、)"
)
_ADVICE_ENDS = ("てください。", "べきです。", "べきでしょう。", "しましょう。")
_CONTEXT_OPENER_RE = re.compile(
    r"^(?:しかし|しかも|また|さらに|加えて|そして|一方|これ|それ|この|その|こう|そう|こちら|そこで|だから|"
    r"ですが|でも|ただし|ただ、|つまり|例えば|たとえば|特に|とはいえ|なぜなら|彼ら|彼女|ここ|次に|まず|先の|前述|"
    r"上記|同社|同様|両者|もちろん|そんな|こんな|では、|なお|最後に|当時|その後|以前|then\b|this\b|these\b|it\b|they\b"
    r"|however\b|but\b|also\b)",
    re.IGNORECASE,
)
_SIGNPOST_RE = re.compile(
    r"みましょう|いきましょう|いきます。|解説します|紹介します|ご紹介|見ていきます|お伝えします|"
    r"以下の(?:とおり|通り)|次の(?:とおり|通り)|下記の|以下に|掲載します|まとめました|表にまとめ|"
    r"(?:以下|次)の(?:\d+|[一二三四五六七八九十]+)つ|いくつか(?:の)?(?:重要な)?(?:ポイント|要素|課題|特徴|ステップ)があります"
)
_GOOD_HEADING_RE = re.compile(
    r"概要|要約|まとめ|結論|ポイント|はじめに|背景|おわりに|総括|summary|conclusion|tl;?dr", re.I
)
_WEAK_HEADING_RE = re.compile(r"FAQ|よくある質問|Q&A|Ｑ＆Ａ|質問|手順|ステップ|チェックリスト", re.I)
_SKIP_HEADING_RE = re.compile(
    r"関連記事|目次|参考|出典|引用元|References|Related|Table of Contents|お問い合わせ|免責|著者|プロフィール"
    r"|タグ|シェア|無料相談|サービス案内|お申し込み|CTA|広告",
    re.I,
)
_CONTENT_RE = re.compile(r"[\W_]+")
_JA_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z]+")
_EN_WORD_RE = re.compile(r"[a-z0-9]+(?:['.-][a-z0-9]+)*")
_LIST_LABEL_RE = re.compile(r"^[^。！？:：]{2,30}[:：]\s*(?=\S)")
_TITLE_PADDING_RE = re.compile(
    r"^(?:\d{4}年(?:\d{1,2}月)?(?:最新|版)?|【[^】]*】|\[[^\]]*\])\s*|（[^）]*）|\([^)]*\)|"
    r"(?:の全貌と実践的な活用法|の最新動向と企業への影響|が変えるビジネスの未来|の注目ポイントと導入効果|"
    r"による業務効率化と競争力強化|の進化と実用化への道筋|がもたらす産業構造の転換|の技術革新がもたらす変化)$"
)
_STOPWORDS_EN = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "with",
        "as",
        "by",
        "at",
        "from",
        "we",
        "you",
        "they",
        "he",
        "she",
        "i",
        "not",
        "have",
        "has",
        "had",
        "do",
        "does",
        "did",
        "will",
        "would",
        "can",
        "could",
    ]
)

MAX_SENTENCE_CHARS = 240
MIN_SENTENCE_CONTENT = 12


def normalize(text: str) -> str:
    """NFKC + casefold: one notion of "the same characters" for every comparison here."""
    return nfkc(text).casefold()


def content_chars(text: str) -> str:
    """Letters and digits only, so punctuation and spacing never decide similarity."""
    return _CONTENT_RE.sub("", normalize(text))


def char_ngrams(text: str, n: int = 3) -> set[str]:
    s = content_chars(text)
    if len(s) < n:
        return {s} if s else set()
    return {s[i : i + n] for i in range(len(s) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def has_residue(sentence: str) -> bool:
    """Markdown, HTML, Liquid, TeX, URL or chunk-marker syntax left in the text."""
    return bool(_RESIDUE_START_RE.match(sentence) or _RESIDUE_RE.search(sentence))


def is_fragment(sentence: str) -> bool:
    """A piece that is not a whole sentence.

    Definition (shared with the bench): after stripping, the sentence does not
    end in terminal punctuation (。．！？ . ! ? with optional closing brackets);
    or it starts with a particle, auxiliary, small kana, long-vowel mark,
    comma or closing bracket (the tail of a cut sentence); or it starts with
    an all-lowercase English word; or its brackets are unbalanced.
    """
    s = sentence.strip()
    if not s or not _TERMINAL_END_RE.search(s):
        return True
    if _FRAGMENT_START_RE.match(s) or _LOWER_WORD_START_RE.match(s):
        return True
    return _unbalanced(s)


def _unbalanced(s: str) -> bool:
    if not _BRACKET_RE.search(s):
        return False
    for o, c in (("「", "」"), ("『", "』"), ("（", "）"), ("(", ")"), ("【", "】")):
        if s.count(o) != s.count(c):
            return True
    return False


def title_core(title: str) -> str:
    """The title without the SEO padding ("2026年…の全貌と実践的な活用法", "（OpenAI・Google）")."""
    core = title
    for _ in range(3):
        stripped = _TITLE_PADDING_RE.sub("", core).strip()
        if stripped == core:
            break
        core = stripped
    return core if len(content_chars(core)) >= 6 else title


def repeats_title(sentence: str, title: str, threshold: float = 0.5) -> bool:
    """Whether a sentence restates the title.

    True when at least `threshold` of the title's character 3-grams (of the full
    title or of its core without SEO padding) occur in the sentence, or when
    most of the sentence's own 3-grams come from the title.
    """
    if not title.strip():
        return False
    grams = char_ngrams(sentence)
    if not grams:
        return False
    for t in {title, title_core(title)}:
        tg = char_ngrams(t)
        if not tg:
            continue
        shared = len(grams & tg)
        if shared / len(tg) >= threshold or shared / len(grams) >= 0.6:
            return True
    return False


# --------------------------------------------------------------------------- candidates and scoring


class _Candidate:
    __slots__ = (
        "_grams",
        "dependent",
        "excluded",
        "feats",
        "key",
        "order",
        "penalty",
        "score",
        "section",
        "substantive",
        "text",
    )

    def __init__(self, text: str, key: str, feats: set[str], order: int, section: int, penalty: float) -> None:
        self.text = text
        self.key = key
        self.feats = feats
        self.order = order
        self.section = section
        self.penalty = penalty
        self.score = 0.0
        self._grams: set[str] | None = None
        self.excluded: bool | None = None  # decided on first use, by `_excluded`
        self.substantive = True  # not persona chat, a question, a signpost, a note or advice
        self.dependent = False  # opens with a reference or connective to the sentence before

    @property
    def grams(self) -> set[str]:
        """Character 3-grams, for the redundancy and title checks: only the few candidates
        that reach selection ever need them, so they are built on first use."""
        if self._grams is None:
            self._grams = _grams_of_key(self.key)
        return self._grams


@dataclass
class _Prepared:
    candidates: list[_Candidate]
    english: bool
    title: _TitleGrams
    lead: _Candidate | None = None


# Connectives that only pace the article ("特に、", "まず、"): the sentence stands without them,
# and out of context they point at a previous sentence the summary does not have. Contrast
# and reference ("しかし、", "この…") are not dropped; they are down-weighted instead.
_DROPPABLE_OPENER_RE = re.compile(
    r"^(?:特に|また|さらに|加えて|まず|実際|実際に|もちろん|そして|次に|最後に|なお|ちなみに|同時に|何より|結果として"
    r"|そんな中|こうした中|そうした中)、"
)
_CONTRAST_OPENER_RE = re.compile(r"^(?:しかし|しかしながら|ただし|一方で|一方|でも|とはいえ|それでも|ところが)、")
# A sentence opening with a reference or connective: at a paragraph's start, and inside one.
CONTEXT_PENALTY = (0.6, 0.45)
# 体言止め: a sentence ending in a noun ("…という根本的な問い。") reads as a note, not a statement.
_NOUN_END_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u30a1-\u30faーA-Za-z0-9" + re.escape(_CLOSERS) + r"][。．]$")


def _clean_sentence(sentence: str, kind: str) -> str:
    s = " ".join(sentence.split())
    if kind == "list_item":
        # "超高画質化とリアリズムの追求: AIが生成する動画は…" → the sentence after the label.
        s = _LIST_LABEL_RE.sub("", s)
    m = _DROPPABLE_OPENER_RE.match(s)
    if m and len(s) - m.end() >= MIN_SENTENCE_CONTENT:
        s = s[m.end() :]
    return s


def _soft_penalty(s: str) -> float:
    """Down-weights for sentences that are whole and on topic but read badly anywhere:
    chat, questions, signposts, notes and advice. See `_context_factor` for the rest."""
    p = 1.0
    if _GREETING_START_RE.match(s) or s.endswith(_GREETING_ENDS) or _GREETING_RE.search(s):
        p *= 0.15
    if s.endswith(("？", "?", "？」", "?」", "か。")):
        p *= 0.2  # rhetorical questions to the reader
    if _PERSONA_RE.search(s):
        p *= 0.45
    if _SIGNPOST_RE.search(s):
        p *= 0.3  # "もう少し掘り下げてみましょう": the article talking about itself
    if _NOUN_END_RE.match(s, len(s) - 2):  # the pattern is the last two characters
        p *= 0.6
    if _ADVICE_START_RE.match(s) or s.endswith(_ADVICE_ENDS):
        p *= 0.5
    return p


def _context_factor(s: str, position_in_block: int) -> float:
    """Down-weight for a sentence that leans on the one before ("この計画、…", "しかし…")."""
    return CONTEXT_PENALTY[bool(position_in_block)] if _CONTEXT_OPENER_RE.match(s) else 1.0


def _iter_blocks(body: Any) -> Iterable[tuple[int, str | None, str, str]]:
    for si, section in enumerate(getattr(body, "sections", ())):
        heading = section.heading
        if heading and _SKIP_HEADING_RE.search(heading):
            continue
        for block in section.blocks:
            yield si, heading, block.kind, block.text


def _is_pipeline_chatter(first_block: str) -> bool:
    """The generator wrote about its own output instead of an article: no summary is honest."""
    return bool(_META_RE.search(first_block) or _META_EN_RE.search(first_block.lower()))


def _hard_reject(s: str) -> bool:
    """Residue, pipeline chatter or a call to action: never in a summary, however central."""
    if has_residue(s) or _META_RE.search(s) or _CTA_RE.search(s):
        return True
    if s.isascii() or not _JA_RE.search(s):
        lowered = s.lower()
        return bool(_META_EN_RE.search(lowered) or _CTA_EN_RE.search(lowered))
    return False


_ODD_CHAR_RE = re.compile(r"[^\w\s、。，．・：；！？「」『』（）()%,.!?:;'\"ー〜～/-]")


def _excluded(c: _Candidate, title: _TitleGrams) -> bool:
    """Never in a summary: residue, chatter, a call to action, a fragment, symbol garbage or
    a restatement of the title. Decided once per candidate, when first needed."""
    if c.excluded is None:
        s = c.text
        c.excluded = (
            _hard_reject(s)
            or is_fragment(s)
            or (_ODD_CHAR_RE.search(s) is not None and len(_ODD_CHAR_RE.findall(s)) > 0.3 * len(s))
            or title.repeated_by(c.grams)
        )
    return c.excluded


class _TitleGrams:
    """The title's 3-gram sets, computed once per post rather than once per sentence."""

    __slots__ = ("sets",)

    def __init__(self, title: str) -> None:
        self.sets = [g for g in (char_ngrams(title), char_ngrams(title_core(title))) if g] if title.strip() else []

    def repeated_by(self, grams: set[str]) -> bool:
        """Whether a sentence says little beyond the title.

        Stricter than the bench's `repeats_title` at 0.5 (a margin below both of its limits),
        but a sentence that takes a third of the title's words and adds mostly new facts
        ("某社が評価額8300億ドルで1000億ドル超の資金調達交渉を進めている…") is the news, not a
        restatement, and stays.
        """
        if not grams:
            return False
        for tg in self.sets:
            shared = len(grams & tg)
            own = shared / len(grams)
            title_side = shared / len(tg)
            if title_side >= TITLE_LIMIT or own >= 0.5 or (title_side >= 0.35 and own >= TITLE_NEW_FACTS):
                return True
        return False


TITLE_LIMIT = 0.5
# Above 0.35 of the title's 3-grams, at least this share of the sentence's own 3-grams must be new.
TITLE_NEW_FACTS = 0.4


def _grams_of_key(key: str) -> set[str]:
    return {key[i : i + 3] for i in range(len(key) - 2)}


# Scoring features for Japanese: runs of kanji, of katakana and of Latin letters/digits
# (after NFKC + casefold). About a quarter as many features as character 3-grams, and
# runs are closer to words: "企業", "エージェント", "gpt4o" rather than "業導入".
_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff々〆ヶ]{2,}|[\u30a1-\u30faー]{2,}|[a-z0-9]+(?:[.-][a-z0-9]+)*")


def _ja_features(normalized: str) -> set[str]:
    return set(_RUN_RE.findall(normalized))


def _en_features(normalized: str) -> set[str]:
    words = [w for w in _EN_WORD_RE.findall(normalized) if w not in _STOPWORDS_EN]
    return set(words) | {a + " " + b for a, b in itertools.pairwise(words)}


def _prepare(title: str, body: Any) -> _Prepared:
    """Split and score every sentence once, for all three lengths.

    Only the cheap filters run here; every sentence that passes them is a neighbour
    in the centrality. The hard rules (residue, fragments, boilerplate, title
    restatements) are checked by `_excluded` when selection reaches a sentence,
    which is a few dozen sentences per post rather than all of them.
    """
    blocks = list(_iter_blocks(body))
    if not blocks or _is_pipeline_chatter(blocks[0][3]):
        return _Prepared([], False, _TitleGrams(""))
    candidates: list[_Candidate] = []
    normalized: list[str] = []
    seen: set[str] = set()
    headings = {content_chars(h) for h in (getattr(s, "heading", None) for s in body.sections) if h}
    order = 0
    for bi, (si, heading, kind, text) in enumerate(blocks):
        sentences = split_sentences(text)
        if bi == 0 and len(sentences) <= 2 and "。" not in text and len(text) < 120:
            order += len(sentences)
            continue  # a title line restated at the top of the body
        heading_factor = 1.0
        if heading and _GOOD_HEADING_RE.search(heading):
            heading_factor = 1.25
        elif heading and _WEAK_HEADING_RE.search(heading):
            heading_factor = 0.6
        if kind == "quote":
            heading_factor *= 0.7
        for pi, raw in enumerate(sentences):
            order += 1
            s = _clean_sentence(raw, kind)
            if len(s) > MAX_SENTENCE_CHARS:
                continue
            norm = normalize(s)
            key = _CONTENT_RE.sub("", norm)
            if len(key) < MIN_SENTENCE_CONTENT or key in seen or key in headings:
                continue
            seen.add(key)
            chat = _soft_penalty(s)
            penalty = chat * _context_factor(s, pi) * heading_factor * (1.1 if pi == 0 else 1.0)
            candidate = _Candidate(s, key, set(), order, si, penalty)
            candidate.substantive = chat >= 0.7
            candidate.dependent = _CONTEXT_OPENER_RE.match(s) is not None
            candidates.append(candidate)
            normalized.append(norm)
    sample = "".join(c.text for c in candidates[:40])
    # Kana and kanji are three bytes in UTF-8: counting them this way is a regex pass cheaper.
    non_ascii = (len(sample.encode()) - len(sample)) // 2
    english = len(_LATIN_WORD_RE.findall(sample)) * 4 > non_ascii
    features = _en_features if english else _ja_features
    for c, norm in zip(candidates, normalized, strict=True):
        c.feats = features(norm)
    if english:
        candidates = [c for c in candidates if not _JA_RE.search(c.text)] or candidates
    title_grams = _TitleGrams(title)
    title_feats = features(normalize(title))
    _score(candidates, title_feats, title_grams, order)
    return _Prepared(candidates, english, title_grams, _news_lead(candidates, title_grams, title_feats, order))


def _news_lead(
    candidates: list[_Candidate], title: _TitleGrams, title_feats: set[str], total: int
) -> _Candidate | None:
    """The opening's best substantive sentence: what a reader needs first.

    This blog's articles state the news in the first section, often after a few
    sentences of persona chat. Among the first few sentences that are neither chat nor
    excluded, the one that opens every summary is, in order of preference: one that does
    not lean on the sentence before; the one densest in the title's words (the title
    names the news; a raw count would favour long sentences that wander); the best scored.
    """
    if not candidates:
        return None
    first_section = candidates[0].section
    window: list[_Candidate] = []
    for c in candidates:
        if c.section != first_section or c.order > max(10, LEAD_SHARE * total) or len(window) >= LEAD_WINDOW:
            break
        if c.substantive and not _excluded(c, title):
            window.append(c)
    return max(
        window,
        key=lambda c: (not c.dependent, len(c.feats & title_feats) / math.sqrt(len(c.feats) or 1), c.score),
        default=None,
    )


LEAD_WINDOW = 6
LEAD_SHARE = 0.25


def _score(candidates: list[_Candidate], title_feats: set[str], title: _TitleGrams, total: int) -> None:
    """Degree centrality × position × cues.

    With TF-IDF vectors x_j, the sum of x_i · x_j over all sentences is
    x_i · Σx_j, and Σx_j's weight on a feature is idf × document frequency,
    which a Counter gives for free. Dividing by |x_i| makes it a cosine on
    the sentence's side (continuous LexRank's degree, without iterations).
    Sentences that restate the title still count as neighbours here; they are
    only kept out of the summary.
    """
    n = len(candidates)
    if not n:
        return
    df = Counter(itertools.chain.from_iterable(c.feats for c in candidates))
    # Weights depend only on document frequency: compute them per frequency, not per feature.
    idf2_by_df = [0.0] + [math.log((n + 1) / d) ** 2 for d in range(1, n + 1)]
    # Neighbours only (d - 1): a sentence is not its own evidence.
    weight_by_df = [w * (d - 1) for d, w in enumerate(idf2_by_df)]
    df_of, idf2_of, weight_of = df.__getitem__, idf2_by_df.__getitem__, weight_by_df.__getitem__
    lead = 0
    for c in candidates:
        f = c.feats
        counts = list(map(df_of, f))
        norm = math.sqrt(sum(map(idf2_of, counts))) or 1.0
        centrality = sum(map(weight_of, counts)) / norm
        rel = c.order / max(1, total)
        # The first substantive sentences (not the persona's chat), in the article's first part.
        is_lead = lead < 3 and c.substantive and rel <= 0.25 and not _excluded(c, title)
        lead += is_lead
        position = 1.0 + POSITION_WEIGHT * (1.0 - rel) ** 3 + (LEAD_BONUS if is_lead else 0.0)
        on_topic = 1.0 + (0.5 * len(f & title_feats) / len(title_feats) if title_feats else 0.0)
        shape = 1.0 if 35 <= len(c.text) <= 160 else 0.75
        c.score = centrality * position * on_topic * shape * c.penalty
    top = max(c.score for c in candidates) or 1.0
    for c in candidates:
        c.score /= top


POSITION_WEIGHT = 1.2
# The article's first usable sentences: this blog's openings state the news.
LEAD_BONUS = 0.8


# --------------------------------------------------------------------------- selection

# (minimum sentences, maximum sentences, character budget, longest single sentence)
_SHAPES: dict[SummaryLength, tuple[int, int, int, int]] = {
    SummaryLength.SHORT: (1, 2, 220, 160),
    SummaryLength.STANDARD: (3, 3, 400, 170),
    SummaryLength.LONG: (5, 6, 1100, 240),
}
REDUNDANCY_JACCARD = 0.3
STANDARD_MIN_CHARS = 150


def _redundant(c: _Candidate, chosen: list[_Candidate]) -> bool:
    for d in chosen:
        if jaccard(c.grams, d.grams) >= REDUNDANCY_JACCARD:
            return True
        small = min(len(c.grams), len(d.grams)) or 1
        if len(c.grams & d.grams) / small >= 0.5:
            return True
    return False


def _lengthen(
    chosen: list[_Candidate], pool: list[_Candidate], budget: int, floor: int, title: _TitleGrams
) -> list[_Candidate]:
    """Swap the shortest pick for a longer good one when three short sentences say too little."""
    total = sum(len(c.text) for c in chosen)
    if total >= floor or not chosen:
        return chosen
    shortest = min(chosen, key=lambda c: len(c.text))
    rest = [c for c in chosen if c is not shortest]
    for c in pool:  # best first
        if c in chosen or c.score < 0.3 * shortest.score:
            continue
        new_total = total - len(shortest.text) + len(c.text)
        if floor <= new_total <= budget and not _excluded(c, title) and not _redundant(c, rest):
            return [*rest, c]
    return chosen


def _select(prep: _Prepared, length: SummaryLength) -> Summary:
    lo, hi, budget, longest = _SHAPES[length]
    ranked = sorted(prep.candidates, key=lambda c: (-c.score, c.order))
    pool = [c for c in ranked if len(c.text) <= longest]
    chosen: list[_Candidate] = [prep.lead] if prep.lead and len(prep.lead.text) <= longest else []
    used_chars = sum(len(c.text) for c in chosen)
    sections_available = len({c.section for c in pool})
    for diverse in (True, False):
        for c in pool:
            if len(chosen) >= hi:
                break
            if c in chosen or used_chars + len(c.text) > budget:
                continue
            if diverse and sections_available >= lo and any(d.section == c.section for d in chosen):
                continue
            if _excluded(c, prep.title) or _redundant(c, chosen):
                continue
            chosen.append(c)
            used_chars += len(c.text)
        if len(chosen) >= lo:
            break
    if length is SummaryLength.STANDARD:
        chosen = _lengthen(chosen, pool, budget, STANDARD_MIN_CHARS, prep.title)
    if length is SummaryLength.SHORT and len(chosen) == 2 and len(chosen[0].text) >= 80:
        chosen = chosen[:1]
    if length is SummaryLength.LONG and len(chosen) > lo and chosen[-1].score < 0.25:
        chosen = chosen[:-1]
    chosen.sort(key=lambda c: c.order)
    sentences = tuple(c.text for c in chosen)
    if sentences:
        # A contrast that opens the summary contrasts with nothing the reader has seen.
        m = _CONTRAST_OPENER_RE.match(sentences[0])
        if m and not is_fragment(sentences[0][m.end() :]):
            sentences = (sentences[0][m.end() :], *sentences[1:])
    while sentences and len(Summary(sentences).text) > DISCORD_EMBED_DESCRIPTION_LIMIT:
        sentences = sentences[:-1]
    return Summary(sentences)


def summarize(title: str, body: CleanedBody, length: SummaryLength = SummaryLength.STANDARD) -> Summary:
    return _select(_prepare(title or "", body), SummaryLength(length))


def summarize_all(title: str, body: CleanedBody) -> dict[SummaryLength, Summary]:
    """All three lengths from one scoring pass: the first request for a post caches every length."""
    prep = _prepare(title or "", body)
    return {length: _select(prep, length) for length in SummaryLength}


# --------------------------------------------------------------------------- files (kiji summarize)


def read_post(path: str) -> tuple[str, str, str | None]:
    """(title, Markdown body, description) of a post file.

    A file given on the command line has no site around it, so the front matter
    is read here with YAML's base loader: every value stays a string, and a
    malformed date cannot make an otherwise readable post fail.
    """
    text = Path(path).read_bytes().decode("utf-8-sig")
    meta: dict[str, Any] = {}
    body = text
    if text.startswith("---"):
        parts = re.split(r"^---[ \t]*$", text, maxsplit=2, flags=re.M)
        if len(parts) == 3:
            loaded = yaml.load(parts[1], Loader=yaml.BaseLoader) or {}
            if not isinstance(loaded, dict):
                raise ValueError("front matter is not a mapping")
            meta, body = loaded, parts[2]
    title = meta.get("title")
    description = meta.get("description")
    return (str(title) if title else ""), body, (str(description) if description else None)


def summarize_files(paths: list[str], length: str, as_json: bool, out: TextIO) -> int:
    """Summarise Markdown files without a store; a bad file is reported and the run goes on.

    Exit code 0 when every file was read, 1 when any could not be.
    """
    from bot.content.cleaning import clean_body

    size = SummaryLength(length)
    failures = 0
    for path in paths:
        record: dict[str, Any] = {"path": path, "title": None, "summary": None, "sentences": [], "error": None}
        try:
            title, markdown, _ = read_post(path)
            record["title"] = title
            summary = summarize(title, clean_body(markdown, title=title), size)
            record["summary"] = summary.text if summary.available else None
            record["sentences"] = list(summary.sentences)
        except Exception as exc:  # one unreadable file must not stop the run
            failures += 1
            record["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("cannot summarise %s: %s", path, exc)
        if as_json:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            out.write(f"{path}\n")
            if record["error"]:
                out.write(f"  error: {record['error']}\n\n")
                continue
            out.write(f"  {record['title']}\n")
            out.write(f"  {record['summary'] or NO_SUMMARY_TEXT}\n\n")
    return 1 if failures else 0
