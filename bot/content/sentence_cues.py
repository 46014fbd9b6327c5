"""Wording cues in this blog's sentences: chat, advice, calls to action, signposts, headings.

The posts were written by an LLM pipeline with a chatty persona. These patterns name what a
reader would rather skip; the scorer turns them into down-weights, hard rejections or
dropped openers (see `bot.content.summary_scoring`).
"""

from __future__ import annotations

import re

from bot.content.boilerplate import is_call_to_action
from bot.content.sentence_rules import has_residue
from bot.content.sentences import CLOSERS

_META_RE = re.compile(
    r"文字数|字数|記事の末尾|---END---|指示に従|以下の記事|プロンプト(?:に従|の指示)|出力してください|生成しました"
)
_META_EN_RE = re.compile(
    r"the article has been generated|i will now|character count|word count|as an ai\b|here is the article"
)
# Beyond the boilerplate that cleaning removes (`bot.content.boilerplate`, the one list of it),
# wording a summary never wants even where the article keeps it: signposts ("この記事では",
# "目次"), pointers to elsewhere ("こちらから", "続きを読む") and softer invitations.
_NOT_FOR_A_SUMMARY_RE = re.compile(
    r"お問い合わせ|お問合せ|お気軽に|資料請求|ご利用ください|お申し込み|お申込み|"
    r"詳しくはこちら|こちらから|こちらをご覧|クリック|ダウンロードして|登録して|フォローして|シェアして|"
    r"関連記事|続きを読む|広告|スポンサー|PR:|目次|この記事では|(?<=.)(?:本記事|本稿)では|この記事を"
)
# "本記事では、IT導入補助金を使ってAIを導入するための申請手順と…を解説します。": the article stating its
# own scope, in its own words: opened by "本記事では"/"今回は、", or closed by "…を解説します"/"…を掘り下げて
# いきます". It is the nearest thing in the body to the author's abstract ("…を解説。…を紹介。"): alone,
# such a sentence scores 0.32 ROUGE-L against the 97 abstracts, other sentences of the opening dozen
# 0.18. Not a signpost to skip (see `Weights.scope`).
SCOPE_RE = re.compile(
    r"^(?:本記事|本稿)(?:では|で)|^(?:今回は|編集部では)、"
    r"|(?:解説|紹介|考察|掘り下げ|深掘り|お話し|お伝え|お届け)(?:し|する|します|していき|ていき|できれば)[^。]{0,12}。$"
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
CONTEXT_OPENER_RE = re.compile(
    r"^(?:しかし|しかも|また|さらに|加えて|そして|一方|これ|それ|この|その|こう|そう|こちら|そこ|だから|"
    r"ですが|でも|ただし|ただ、|つまり|例えば|たとえば|特に|とはいえ|なぜなら|彼ら|彼女|ここ|次に|まず|先の|前述|"
    r"上記|同社|同様|両者|もちろん|そんな|こんな|では、|なお|最後に|当時|その後|以前|あの|あれ|したがって|すると|"
    r"ところが|同氏|先述|then\b|this\b|these\b|that\b|those\b|such\b|it\b|they\b"
    r"|however\b|but\b|also\b)",
    re.IGNORECASE,
)
_SIGNPOST_RE = re.compile(
    r"みましょう|いきましょう|いきます。|解説します|紹介します|ご紹介|見ていきます|お伝えします|"
    r"以下の(?:とおり|通り)|次の(?:とおり|通り)|下記の|以下に|掲載します|まとめました|表にまとめ|"
    r"(?:以下|次)の(?:\d+|[一二三四五六七八九十]+)つ|いくつか(?:の)?(?:重要な)?(?:ポイント|要素|課題|特徴|ステップ)があります"
)
GOOD_HEADING_RE = re.compile(
    r"概要|要約|まとめ|結論|ポイント|はじめに|背景|おわりに|総括|summary|conclusion|tl;?dr", re.I
)
WEAK_HEADING_RE = re.compile(r"FAQ|よくある質問|Q&A|Ｑ＆Ａ|質問|手順|ステップ|チェックリスト", re.I)
SKIP_HEADING_RE = re.compile(
    r"関連記事|目次|参考|出典|引用元|References|Related|Table of Contents|お問い合わせ|免責|著者|プロフィール"
    r"|タグ|シェア|無料相談|サービス案内|お申し込み|CTA|広告",
    re.I,
)

JA_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
LATIN_WORD_RE = re.compile(r"[A-Za-z]+")
EN_WORD_RE = re.compile(r"[a-z0-9]+(?:['.-][a-z0-9]+)*")
LIST_LABEL_RE = re.compile(r"^[^。！？:：]{2,30}[:：]\s*(?=\S)")

STOPWORDS_EN = frozenset(
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

# Connectives that only pace the article ("特に、", "まず、"): the sentence stands without them,
# and out of context they point at a previous sentence the summary does not have. Contrast
# and reference ("しかし、", "この…") are not dropped; they are down-weighted instead.
DROPPABLE_OPENER_RE = re.compile(
    r"^(?:特に|また|さらに|加えて|まず|実際|実際に|もちろん|そして|次に|最後に|なお|ちなみに|同時に|何より|結果として"
    r"|そんな中|こうした中|そうした中)、"
)
CONTRAST_OPENER_RE = re.compile(r"^(?:しかし|しかしながら|ただし|一方で|一方|でも|とはいえ|それでも|ところが)、")
# A sentence opening with a reference or connective: at a paragraph's start, and inside one.
CONTEXT_PENALTY = (0.6, 0.45)
# 体言止め: a sentence ending in a noun ("…という根本的な問い。") reads as a note, not a statement.
_NOUN_END_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u30a1-\u30faーA-Za-z0-9" + re.escape(CLOSERS) + r"][。．]$")


def soft_penalty(s: str) -> float:
    """Down-weights for sentences that are whole and on topic but read badly anywhere:
    chat, questions, signposts, notes and advice. See `context_factor` for the rest."""
    p = 1.0
    if _GREETING_START_RE.match(s) or s.endswith(_GREETING_ENDS) or _GREETING_RE.search(s):
        p *= 0.15
    if s.endswith(("？", "?", "？」", "?」", "か。")):
        p *= 0.2  # rhetorical questions to the reader
    if _PERSONA_RE.search(s):
        p *= 0.45
    if _SIGNPOST_RE.search(s) and not SCOPE_RE.search(s):
        p *= 0.3  # "もう少し掘り下げてみましょう": the article talking about itself
    if _NOUN_END_RE.match(s, len(s) - 2):  # the pattern is the last two characters
        p *= 0.6
    if _ADVICE_START_RE.match(s) or s.endswith(_ADVICE_ENDS):
        p *= 0.5
    return p


# A Japanese sentence names what it is about: a は or が past its first character (not はず or
# はじめ, nor the "…ですが" that joins clauses), or a も after a noun ("Metaも…").
_SUBJECT_RE = re.compile(r"(?<=.)(?:は(?!ず|じめ)|(?<!です)(?<!ます)(?<!だ)が)|(?<=[^\u3040-\u309f])も")


def stands_alone(s: str) -> bool:
    """Readable without the sentence before it or its heading: no opening reference or connective,
    and (in Japanese) a subject of its own. 「GPT-5の性能を維持しつつ…最適化したモデルです。」
    names its model only in the heading; 「そして今回、そのAlphaFoldが…」 needs its predecessor."""
    if CONTEXT_OPENER_RE.match(s):
        return False
    return JA_RE.search(s) is None or _SUBJECT_RE.search(s) is not None


def context_factor(s: str, position_in_block: int) -> float:
    """Down-weight for a sentence that leans on the one before ("この計画、…", "しかし…")."""
    return CONTEXT_PENALTY[bool(position_in_block)] if CONTEXT_OPENER_RE.match(s) else 1.0


def is_pipeline_chatter(first_block: str) -> bool:
    """The generator wrote about its own output instead of an article: no summary is honest."""
    return bool(_META_RE.search(first_block) or _META_EN_RE.search(first_block.lower()))


def hard_reject(s: str) -> bool:
    """Residue, pipeline chatter or a call to action: never in a summary, however central."""
    if has_residue(s) or _META_RE.search(s) or is_call_to_action(s) or _NOT_FOR_A_SUMMARY_RE.search(s):
        return True
    if s.isascii() or not JA_RE.search(s):
        lowered = s.lower()
        return bool(_META_EN_RE.search(lowered) or _CTA_EN_RE.search(lowered))
    return False
