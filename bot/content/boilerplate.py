"""The blog's boilerplate, in one place: what the site template and the pipeline add to an article.

The generated posts carry the site's footer blocks (related-post lists, calls to action,
affiliate book lists and notices, share/subscribe prompts), sometimes in the middle of the
article, and the pipeline's own chatter. Cleaning drops them; summaries must never pick them.
Keeping the phrases here means a new call to action is taught to every consumer at once.

Each pattern is one case-sensitive alternation whose every branch opens with a literal
character, never a class or a group ("Subscribe|subscribe", not "[Ss]ubscribe"): only then
does the regex engine skip ahead to where a branch can start. They run on every block and
sentence of every post at ingest; CALL_TO_ACTION with "[Ss]ubscribe" and a group at a
branch's start was 8.5× slower (tests/bot/content/test_boilerplate_patterns.py keeps the
old spelling as the reference the new one must equal).
"""

from __future__ import annotations

import re

__all__ = [
    "AD_BLOCK",
    "CALL_TO_ACTION",
    "CHATTER",
    "FOOTER_HEADING",
    "is_call_to_action",
]

# A heading with one of these opens a footer block: it and what follows it, up to the next
# horizontal rule or the next heading that is not itself part of the footer, is not article.
FOOTER_HEADING = re.compile(
    r"関連記事|あわせて読みたい|合わせて読みたい|おすすめ書籍|おすすめの書籍|関連書籍|ご相談|無料相談|"
    r"お問い合わせ|お問合せ|ニュースレター|メルマガ|メールマガジン|お手伝いしています|お困りですか|"
    r"サービスのご案内|この記事をシェア|シェアする|Related [Aa]rticles|related [Aa]rticles|"
    r"Related [Pp]osts|related [Pp]osts|Newsletter|newsletter|Subscribe|subscribe|Share this|share this"
)

# A sentence with one of these is a call to action, an affiliate notice or a share/subscribe
# prompt wherever it stands: the sentence goes, the rest of its paragraph stays.
CALL_TO_ACTION = re.compile(
    r"お問い合わせはこちら|お問い合わせください|お問合せください|サービス詳細を見る|"
    r"お困りですか|お気軽にご相談|お気軽にお問い合わせ|お気軽にお問合せ|お気軽にご連絡|"
    r"ご相談ください|ご相談を承って|ご相談は無料|無料相談|無料で承って|お手伝いしています|"
    r"ニュースレター[にのを]?(?:登録|購読|配信中)|メルマガ[にのを]?(?:登録|購読|配信中)|"
    r"メールマガジン[にのを]?(?:登録|購読|配信中)|"
    r"フォローしてください|シェアしてください|"
    r"アフィリエイト|サイト運営をサポート|Amazonで詳しく見る|楽天で詳しく見る|詳しく見る\s*→|"
    r"Subscribe to|subscribe to|Sign up for|sign up for|Follow us|follow us|Share this|share this"
)

# A block with one of these is an advertisement as a whole (tracking links, sponsor labels).
# The label is capitalised or "sponsored by/content": "state-sponsored AI attacks" is prose.
AD_BLOCK = re.compile(r"utm_source=|PR\s*[:：]|広告\s*[:：]|Sponsored|SPONSORED|sponsored by|sponsored content")

# The pipeline talking about its own output ("The article has 3600 characters."): removed by the
# sentence, with the English sentences that follow it in the same paragraph. Case-sensitive (the
# chatter opens a sentence) so that searching a whole block for it stays a fast literal scan.
CHATTER = re.compile(
    r"(?:The article has|I will now|I have (?:now )?(?:generated|written|completed)|"
    r"Here is the (?:article|continuation)|Okay, (?:here|I)|Sure, here|Let me (?:now )?check|"
    r"Now I will|The (?:article|text) (?:is|was) (?:generated|written)|This is within the)"
)


def is_call_to_action(sentence: str) -> bool:
    return CALL_TO_ACTION.search(sentence) is not None
