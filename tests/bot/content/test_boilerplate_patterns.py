"""The boilerplate patterns, respelled for speed, find exactly what their readable first spelling found.

The reference patterns below are the spellings `bot.content.boilerplate` had before every branch
was made to open with a literal character. Every caller asks only whether a pattern occurs, so
the proof is: the same answer on every block and sentence of the sample posts, and on random
text built from the phrases' own pieces.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content.boilerplate import CALL_TO_ACTION, FOOTER_HEADING
from bot.content.markdown_blocks import prepass, scan_blocks
from bot.content.sentences import sentence_pieces
from bot.sources.post_files import find_post_files
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site

REFERENCE_CALL_TO_ACTION = re.compile(
    r"お問い合わせはこちら|お問い合わせください|お問合せください|サービス詳細を見る|"
    r"お困りですか|お気軽に(?:ご相談|お問い合わせ|お問合せ|ご連絡)|ご相談ください|ご相談を承って|ご相談は無料|"
    r"無料相談|無料で承って|お手伝いしています|"
    r"(?:ニュースレター|メルマガ|メールマガジン)(?:に|の|を)?(?:登録|購読|配信中)|"
    r"フォローしてください|シェアしてください|"
    r"アフィリエイト|サイト運営をサポート|Amazonで詳しく見る|楽天で詳しく見る|詳しく見る\s*→|"
    r"[Ss]ubscribe to|[Ss]ign up for|[Ff]ollow us|[Ss]hare this"
)
REFERENCE_FOOTER_HEADING = re.compile(
    r"関連記事|あわせて読みたい|合わせて読みたい|おすすめ書籍|おすすめの書籍|関連書籍|ご相談|無料相談|"
    r"お問い合わせ|お問合せ|ニュースレター|メルマガ|メールマガジン|お手伝いしています|お困りですか|"
    r"サービスのご案内|この記事をシェア|シェアする|[Rr]elated (?:[Aa]rticles|[Pp]osts)|[Nn]ewsletter|"
    r"[Ss]ubscribe|[Ss]hare this"
)
PAIRS = [(CALL_TO_ACTION, REFERENCE_CALL_TO_ACTION), (FOOTER_HEADING, REFERENCE_FOOTER_HEADING)]


def _agree(text: str) -> None:
    for pattern, reference in PAIRS:
        assert (pattern.search(text) is None) == (reference.search(text) is None), (reference.pattern[:20], text)


def test_same_answer_on_every_block_and_sentence_of_the_sample_posts(corpus_site: Path) -> None:
    site = load_site(corpus_site)
    found = 0
    for abs_path, rel_path in find_post_files(site):
        body = parse_post(Path(abs_path).read_bytes(), rel_path, site).body
        for raw in scan_blocks(prepass(body).split("\n"), []):
            for text in (raw.text, *sentence_pieces(raw.text)):
                _agree(text)
                found += CALL_TO_ACTION.search(text) is not None
    assert found > 20  # the sample's footers and calls to action were among them


# The phrases' pieces, their neighbours and case variants, to be glued in any order.
_PIECES = st.sampled_from(
    [
        *"おおお気軽にご相談連絡問い合わせ合せくださいはこちら登録購読配信中にのをの→ \u3000\n",
        "ニュースレター", "メルマガ", "メールマガジン", "詳しく見る", "Amazonで", "楽天で", "ご相談", "お問合せ",
        "Subscribe", "subscribe", "SUBSCRIBE", "Sign up", "sign up", " for", " to", "Follow", "follow", " us",
        "Share", "share", " this", "Related", "related", " Articles", " articles", " Posts", " posts",
        "Newsletter", "newsletter", "NEWSLETTER", "シェア", "する", "関連", "記事", "書籍",
    ]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_same_answer_on_random_text_of_the_phrases_pieces(text: str) -> None:
    _agree(text)
