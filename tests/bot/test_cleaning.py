"""Tests for bot.content.cleaning: one small input per rule, then the real corpus sample."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content import cleaning
from bot.content.cleaning import Block, CleanedBody, Section, clean_body, reading_time_minutes

SENT_A = "生成AIの導入は、多くの企業にとって重要な経営課題になりつつあります。"
SENT_B = "特に製造業では、品質検査の自動化が大きな成果を上げています。"
SENT_C = "一方で、データの整備には想像以上の時間がかかることも分かってきました。"


def _blocks(body: CleanedBody) -> list[str]:
    return [b.text for s in body.sections for b in s.blocks]


# --- unit rules -------------------------------------------------------------------------------------


def test_headings_become_sections_and_markup_is_stripped() -> None:
    md = f"前置きです。\n\n## 見出し**一**\n\n{SENT_A} **強調**と[リンク](https://x.example/a)。\n\n###小見出し\n\n{SENT_B}"
    body = clean_body(md)
    assert [(s.heading, s.level) for s in body.sections] == [(None, 0), ("見出し一", 2), ("小見出し", 3)]
    assert body.sections[1].blocks == (Block("paragraph", f"{SENT_A} 強調とリンク。"),)
    assert body.text.split("\n\n") == ["前置きです。", "見出し一", f"{SENT_A} 強調とリンク。", "小見出し", SENT_B]


def test_images_code_html_liquid_and_ial_are_removed() -> None:
    md = (
        '![図](/img/a.png)\n\n<div class="box">\n本文<b>太字</b>です。\n</div>\n\n'
        "{% include ads-mid-article.html %}\n\n```python\nprint('x')\n```\n\n"
        "値は{{ page.x }}で`code`を使う。\n\n[お知らせ](/x/)\n{: .consulting-cta-link}"
    )
    assert _blocks(clean_body(md)) == ["本文太字です。", "値はでcodeを使う。", "お知らせ"]


def test_liquid_comment_and_highlight_blocks_are_dropped_and_raw_text_is_kept() -> None:
    md = (
        f"{SENT_A}{{% comment %}}内部メモ：公開しない{{% endcomment %}}\n\n"
        "{%- comment -%}\n下書き：数字は要確認\n{%- endcomment -%}\n\n"
        "{% highlight python linenos %}\nprint('hello')\n{% endhighlight %}\n"
        f"{SENT_B}\n\n"
        "テンプレートでは{% raw %}{{ page.title }}{% endraw %}と書くとタイトルが入ります。\n\n"
        "{% raw %}X{% endraw %}"
    )
    body = clean_body(md)
    assert _blocks(body) == [SENT_A, SENT_B, "テンプレートでは{{ page.title }}と書くとタイトルが入ります。", "X"]


def test_link_definitions_footnote_markers_and_toc_placeholders_are_dropped() -> None:
    md = (
        "* TOC\n{:toc}\n\n"
        f"{SENT_A}詳しくは[公式資料][1]と図[^1]を参照してください。\n\n"
        '[1]: https://example.com\n[fig1]: /img/fig1.png "Figure"\n\n'
        "[注意]: この機能は重要です。\n\n"
        "[^1]: Footnote text here.\n"
    )
    assert _blocks(clean_body(md)) == [
        SENT_A + "詳しくは公式資料と図を参照してください。",
        "[注意]: この機能は重要です。",
        "Footnote text here.",
    ]


def test_end_marks_are_removed_even_mid_line() -> None:
    body = clean_body(f"{SENT_A}---END---{SENT_B}\n\n---END---\n\n{SENT_C}")
    assert "END" not in body.text
    assert _blocks(body) == [SENT_A, SENT_B, SENT_C]


def test_exact_and_near_duplicate_paragraphs_are_dropped() -> None:
    near = SENT_A.replace("重要な", "重大な")
    md = f"{SENT_A}\n\n{SENT_B}\n\n{SENT_A}\n\n{near}\n\n　{SENT_B.replace('、', '， ')}\n\n{SENT_C}"
    assert _blocks(clean_body(md)) == [SENT_A, SENT_B, SENT_C]


def test_a_fragment_contained_in_an_earlier_paragraph_is_dropped() -> None:
    md = f"{SENT_A}{SENT_B}{SENT_C}\n\n{SENT_B}"
    assert _blocks(clean_body(md)) == [SENT_A + SENT_B + SENT_C]


def test_cut_sentence_is_rejoined_with_its_continuation() -> None:
    md = f"{SENT_A}例えば、モデル\n\n---END---\n\nの推論コストが課題です。"
    assert _blocks(clean_body(md)) == [SENT_A + "例えば、モデルの推論コストが課題です。"]


def test_cut_sentence_rejoins_when_continuation_repeats_its_tail() -> None:
    md = f"{SENT_A}それが、その成功を\n\n---END---\n\n成功を左右するでしょう。{SENT_B}"
    assert _blocks(clean_body(md)) == [SENT_A + "それが、その成功を左右するでしょう。" + SENT_B]


def test_cut_paragraph_restarted_in_full_keeps_one_complete_copy() -> None:
    md = f"{SENT_A}{SENT_B}例えば\n\n---END---\n\n{SENT_A}{SENT_B}例えば、検査工程です。"
    assert _blocks(clean_body(md)) == [SENT_A + SENT_B + "例えば、検査工程です。"]


@pytest.mark.parametrize(
    ("head", "tail", "joined"),
    [
        (
            "あるいは天文データや気象シ",
            "天文データや気象観測データのように処理します。",
            "あるいは天文データや気象観測データのように処理します。",
        ),
        ("そのリスク管理のニーズも高", "高まるばかりです。", "そのリスク管理のニーズも高まるばかりです。"),
        ("小さな成功体験を積み", "重ね、その知見を共有します。", "小さな成功体験を積み重ね、その知見を共有します。"),
        ("AIシステムを設計・開発", "する能力は必須です。", "AIシステムを設計・開発する能力は必須です。"),
        ("時に私たちに「", "提案」を与えます。", "時に私たちに「提案」を与えます。"),
    ],
)
def test_cut_sentence_variants_are_rejoined(head: str, tail: str, joined: str) -> None:
    assert _blocks(clean_body(f"{SENT_A}{head}\n\n---END---\n\n{tail}")) == [SENT_A + joined]


def test_cut_sentence_followed_by_a_new_sentence_is_not_glued_but_trimmed() -> None:
    md = f"{SENT_A}まず、AGIへのアクセスを持つ者\n\n---END---\n\nしかし、{SENT_B}"
    assert _blocks(clean_body(md)) == [SENT_A, "しかし、" + SENT_B]


def test_list_items_without_a_full_stop_are_not_glued_to_the_next_item() -> None:
    md = (
        "**主な特徴:**\n- GPT-4o miniの後継モデル\n"
        "- 入力$0.30/1Mトークン、出力$1.20/1Mトークンと圧倒的な低コスト\n"
        "- 分類、要約、簡単な質問応答に最適\n"
        "- 社内の問い合わせ対応やドキュメント検索など幅広い業務に使える汎用性\n"
        "- できることが多く、導入の敷居が低い\n\n"
        "- 大規模言語モデルを社内で運用する場合に考慮すべき推論コストとレイテン\n"
        "- 推論コストとレイテンシーの両立が課題になります"
    )
    assert _blocks(clean_body(md)) == [
        "主な特徴:",
        "GPT-4o miniの後継モデル",
        "入力$0.30/1Mトークン、出力$1.20/1Mトークンと圧倒的な低コスト",
        "分類、要約、簡単な質問応答に最適",
        "社内の問い合わせ対応やドキュメント検索など幅広い業務に使える汎用性",
        "できることが多く、導入の敷居が低い",
        "大規模言語モデルを社内で運用する場合に考慮すべき推論コストとレイテンシーの両立が課題になります",
    ]


def test_pipeline_chatter_inside_an_article_is_dropped() -> None:
    md = f"{SENT_A}\n\nThe article has 3600 characters. This is within the requested range.```\n\n{SENT_B}"
    body = clean_body(md)
    assert _blocks(body) == [SENT_A, SENT_B]
    assert body.has_prose


def test_tables_go_to_search_text_only() -> None:
    md = f"{SENT_A}\n\n| 製品 | 価格 |\n|---|---|\n| **Zebra** | 100円 |\n\n{SENT_B}"
    body = clean_body(md)
    assert body.tables == ("製品 価格 Zebra 100円",)
    assert "Zebra" not in body.text
    assert "Zebra" in body.search_text


def test_flattened_article_gets_its_headings_back() -> None:
    line = (
        f"記事タイトル {SENT_A} {SENT_B} ### 研究の背景：なぜ今か？ {SENT_C} {SENT_A.replace('企業', '組織')}"
        f" * **項目一**: 説明です。 * 項目二 --- ### あわせて読みたい - [他の記事](/a/) "
    ) * 8
    body = clean_body(line)
    assert "###" not in body.text and "**" not in body.text and "](" not in body.text
    assert [s.heading for s in body.sections] == [None, "研究の背景：なぜ今か？"]
    assert SENT_C in _blocks(body)
    assert "項目一: 説明です。" in _blocks(body)
    assert "他の記事" not in body.text


def test_cta_affiliate_and_related_sections_are_dropped() -> None:
    md = (
        f"{SENT_A}\n\n---\n\n## 関連記事\n\n- [記事](/a/)\n\n## 技術選定のご相談を承っています\n\n"
        "実装経験に基づくアドバイスをしています。\n\n[お問い合わせはこちら](/services/?utm_source=x)\n"
        "{: .consulting-cta-link}\n\n## この記事に関連するおすすめ書籍\n\n### [本](https://amazon.example/)\n\n"
        "解説書です。\n\n*※ 本ページのリンクにはアフィリエイトリンクが含まれます。*\n\n## まとめ\n\n" + SENT_B
    )
    body = clean_body(md)
    assert [s.heading for s in body.sections] == [None, "まとめ"]
    assert _blocks(body) == [SENT_A, SENT_B]


def test_arrow_call_to_action_and_its_link_row_are_dropped() -> None:
    md = (
        "## 地域別の小売・卸売業AI活用ガイド\n\n"
        f"{SENT_A}\n\n"
        "**[小売・卸売業の地域別AI活用ガイドを見る →](/ai-solutions/retail/)**\n\n"
        "主要都市のガイド: [東京都](/ai-solutions/retail/tokyo/) | [大阪府](/ai-solutions/retail/osaka/) | "
        "[愛知県](/ai-solutions/retail/aichi/) | [福岡県](/ai-solutions/retail/fukuoka/)\n\n"
        f"{SENT_B}\n\n"
        "- 空室期間：平均2ヶ月 → 0.8ヶ月\n- 仕入れ→在庫→販売→配送の流れを見る →に変える\n\n"
        "対応言語: 日本語 | 英語 | 中国語 | 韓国語"
    )
    assert _blocks(clean_body(md)) == [
        SENT_A,
        SENT_B,
        "空室期間：平均2ヶ月 → 0.8ヶ月",
        "仕入れ→在庫→販売→配送の流れを見る →に変える",
        "対応言語: 日本語 | 英語 | 中国語 | 韓国語",
    ]


def test_leaked_generation_prompt_is_dropped() -> None:
    md = (
        f"{SENT_A}\n\n【要求事項】\n1. 上記の文章から自然に続くように記事を完成させてください。\n"
        "7. 記事の末尾に---END---を必ず追加してください。\n\n【注意】\n- 既存の内容を繰り返さないでください。\n\n"
        f"続きを書いてください：\n\n### 本題\n\n{SENT_B}\n\n記事の末尾に ---END--- を必ず追加する"
    )
    body = clean_body(md)
    assert _blocks(body) == [SENT_A, SENT_B]
    assert "END" not in body.search_text


def test_pipeline_chatter_is_removed_by_the_sentence_not_the_post() -> None:
    md = (
        "The article has been generated according to the instructions. I will now check the character count.\n\n"
        f"{SENT_A}\n\n{SENT_B} The article has 3600 characters. This is within the requested range."
    )
    body = clean_body(md)
    assert _blocks(body) == [SENT_A, SENT_B]
    assert body.has_prose


def test_tex_garbage_has_no_prose() -> None:
    md = "\\frac{a}{b} \\sum_{i=0}^{n} x_i \\alpha \\beta {}^{2} \\mathbb{R}^n\n\n$$ \\int_0^1 f(x) dx $$"
    body = clean_body(md)
    assert not body.has_prose


def test_prices_and_short_inline_math_are_not_noise_but_tex_soup_is() -> None:
    md = (
        f"{SENT_A}\n\n- GPT-4o: 入力$2.50、出力$10.00/1M\n- Claude: 入力$3、出力$15/1M\n\n"
        "The famous formula $E = mc^2$ changed physics.\n\n"
        "\\frac{a}{b} \\sum_{i=0}^{n} x_i \\alpha \\beta {}^{2} \\mathbb{R}^n\n\n"
        "$\\alpha$ $\\beta_{i}$ $\\gamma_{i}^{2}$ $x^2$ $y_i$"
    )
    assert _blocks(clean_body(md)) == [
        SENT_A,
        "GPT-4o: 入力$2.50、出力$10.00/1M",
        "Claude: 入力$3、出力$15/1M",
        "The famous formula $E = mc^2$ changed physics.",
    ]


def test_normal_post_has_prose() -> None:
    assert clean_body(f"{SENT_A}\n\n{SENT_B}").has_prose


def test_leading_block_restating_title_is_dropped() -> None:
    title = "MetaのLlama 4、LLM競争の次なる一手は何をもたらすのか？"
    body = clean_body(f"{title}\n\n{SENT_A}", title=title)
    assert _blocks(body) == [SENT_A]
    assert _blocks(clean_body(f"{title}\n\n{SENT_A}")) == [title, SENT_A]


def test_list_items_and_quotes_keep_their_kind() -> None:
    body = clean_body(f"- **項目**: {SENT_A}\n- 二つ目\n\n> {SENT_B}\n> {SENT_C}")
    assert body.sections == (
        Section(
            None,
            0,
            (
                Block("list_item", f"項目: {SENT_A}"),
                Block("list_item", "二つ目"),
                Block("quote", SENT_B + SENT_C),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("", 1), ("あ" * 500, 1), ("あ" * 1001, 3), ("word " * 400, 2), ("あ" * 500 + " word" * 200, 2)],
)
def test_reading_time(text: str, minutes: int) -> None:
    assert reading_time_minutes(text) == minutes


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#*_-|[]()!{}%<>/`~>:。、あア漢aZ 1\n\t\\END")), max_size=300))
def test_clean_body_never_raises_on_markdownish_text(text: str) -> None:
    body = clean_body(text, title=text[:20])
    assert isinstance(body.text, str) and isinstance(body.search_text, str)
    assert "---END---" not in body.text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_clean_body_never_raises_on_any_text(text: str) -> None:
    assert isinstance(clean_body(text).has_prose, bool)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#*-[]()。、あア漢aZ 1\n")), max_size=300))
def test_outline_rebuilds_the_cleaned_body_from_its_text(text: str) -> None:
    body = clean_body(text)
    assert CleanedBody.from_outline(body.text, body.outline).sections == body.sections


def test_a_broken_outline_gives_paragraphs_not_an_error() -> None:
    body = clean_body(f"## 見出し\n\n{SENT_A}\n\n- {SENT_B}")
    for outline in ("", "not json", "[[2, 3, []]]", '[["x"]]', '[[0, 0, [["paragraph", 5]]]]'):
        rebuilt = CleanedBody.from_outline(body.text, outline)
        assert [b.text for s in rebuilt.sections for b in s.blocks] == body.text.split("\n\n")
        assert {b.kind for s in rebuilt.sections for b in s.blocks} == {"paragraph"}


# --- the real corpus sample -------------------------------------------------------------------------


def _load_posts(site: Path) -> list[tuple[str, dict, str]]:
    posts = []
    for path in sorted((site / "_posts").glob("*.md")):
        raw = path.read_text(encoding="utf-8")
        lines = raw.split("\n")
        closing = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
        front = yaml.safe_load("\n".join(lines[1:closing])) or {}
        posts.append((path.name, front, "\n".join(lines[closing + 1 :])))
    return posts


@pytest.fixture(scope="module")
def cleaned(corpus_site: Path) -> dict[str, tuple[dict, str, CleanedBody]]:
    return {
        name: (front, body, clean_body(body, title=front.get("title")))
        for name, front, body in _load_posts(corpus_site)
    }


RESIDUE = re.compile(r"---END---|\{:|\{%|\{\{|\|---|\*\*|\]\(|</?[A-Za-z][A-Za-z0-9]*[\s>/]|###")


def test_corpus_outlines_rebuild_every_body(cleaned: dict) -> None:
    for name, (_, _, body) in cleaned.items():
        assert CleanedBody.from_outline(body.text, body.outline).sections == body.sections, name


def test_corpus_has_no_markup_residue(cleaned: dict) -> None:
    assert len(cleaned) >= 60
    offenders = {
        name: RESIDUE.search(body.text).group(0) for name, (_, _, body) in cleaned.items() if RESIDUE.search(body.text)
    }
    assert offenders == {}


def _shingles(text: str) -> set[str]:
    key = re.sub(r"[\s\W_]+", "", text.casefold())
    return {key[i : i + 3] for i in range(max(1, len(key) - 2))}


def test_corpus_has_no_near_duplicate_blocks(cleaned: dict) -> None:
    dups = []
    for name, (_, _, body) in cleaned.items():
        sets = [(b.text, _shingles(b.text)) for s in body.sections for b in s.blocks if len(b.text) >= 30]
        for i, (text_a, a) in enumerate(sets):
            for text_b, b in sets[i + 1 :]:
                inter = len(a & b)
                if inter / len(a | b) >= 0.8 or inter / min(len(a), len(b)) >= 0.9:
                    dups.append((name, text_a[:40], text_b[:40]))
    assert dups == []


def test_corpus_seed_cut_sentence_is_rejoined(cleaned: dict) -> None:
    for name in ("2025-12-10-metallama-4llm-seed.md", "2025-12-10-1-metallama-4llm.md"):
        text = cleaned[name][2].text
        assert "例えば、モデルの推論コスト" in text
        assert not re.search(r"例えば、モデル\s*\n", text)
        assert "その成功を左右するでしょう" in cleaned["2025-12-10-metallama-4llm-seed.md"][2].text


@pytest.mark.parametrize(
    ("name", "joined"),
    [
        ("2025-11-06-3-nec.md", "あるいは天文データや気象観測データのように"),
        ("2025-11-10-3-ai300.md", "リスク管理のニーズも高まるばかりです"),
        ("2025-10-13-2-aieiscoregentic.md", "小さな成功体験を積み重ね、その知見"),
        ("2025-10-12-1-eu10ai.md", "設計・開発する能力は"),
        ("2025-11-07-2-nttai.md", "データプライバシー法、あるいは"),
    ],
)
def test_corpus_other_cut_sentences_are_rejoined(cleaned: dict, name: str, joined: str) -> None:
    assert joined in cleaned[name][2].text


def test_corpus_list_items_stay_apart(cleaned: dict) -> None:
    blocks = _blocks(cleaned["2026-04-19-1100-llm-comparison-guide-2026.md"][2])
    for item in (
        "入力$0.30/1Mトークン、出力$1.20/1Mトークンと圧倒的な低コスト",
        "分類、要約、簡単な質問応答に最適",
        "入力$0.25/1Mトークン、出力$1.25/1Mトークンの低コスト",
        "分類、抽出、簡単な質問応答に十分な性能",
    ):
        assert item in blocks


def test_corpus_cleaning_removes_repeats(cleaned: dict) -> None:
    _, raw, body = cleaned["2025-12-08-2-50m-for-ai-defense-whats-the-real-t.md"]
    assert len(body.text) < 0.5 * len(raw)
    assert body.has_prose


def test_corpus_table_words_are_searchable(cleaned: dict) -> None:
    with_tables = {name: body for name, (_, _, body) in cleaned.items() if body.tables}
    assert len(with_tables) >= 5
    for name, body in with_tables.items():
        for table in body.tables:
            for word in table.split()[:5]:
                assert word in body.search_text, (name, word)
    _, raw, body = cleaned["2026-04-12-real-estate-ai-property-description.md"]
    first_row = next(line for line in raw.splitlines() if line.startswith("|"))
    cell = first_row.strip("|").split("|")[0].strip().strip("*")
    assert cell and cell in body.search_text


def test_corpus_chatter_post_keeps_the_article_after_its_chatter_line(cleaned: dict) -> None:
    chatter = cleaned["2025-11-11-1-the-article-has-been-generated-according.md"][2]
    assert chatter.has_prose
    assert "The article has been generated" not in chatter.text
    assert chatter.text.startswith("さて、文字数も無事に3000字から4000字の範囲に収まったようだね。")
    assert len(chatter.text) > 8000
    assert [name for name, (_, _, body) in cleaned.items() if not body.has_prose] == []


def test_corpus_arrow_call_to_action_is_gone(cleaned: dict) -> None:
    text = cleaned["2026-03-27-5-retail-wholesale-ai-guide.md"][2].text
    assert "ガイドを見る" not in text
    assert "東京都 | 大阪府" not in text
    assert "データを武器に変えるのか" in text


def test_corpus_leaked_prompt_is_gone(cleaned: dict) -> None:
    for name, (_, _, body) in cleaned.items():
        assert "必ず追加" not in body.search_text, name
        assert "【要求事項】" not in body.search_text, name
        assert "アフィリエイト" not in body.text, name


def _reading_time_by_loop(text: str) -> int:
    """reading_time_minutes as it was first written, character by character: the reference."""
    cjk = latin_words = 0
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
    return max(1, math.ceil(cjk / 500 + latin_words / 200))


def test_reading_time_tells_every_character_apart_as_the_loop_did() -> None:
    # the loop's three kinds: kana/kanji (counted one by one), a word's letters and digits, the rest
    for code in range(0x110000):
        character = chr(code)
        cjk = 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF
        assert (cleaning._CJK_CHARS.fullmatch(character) is not None) == cjk, hex(code)
        assert (cleaning._WORD.fullmatch(character) is not None) == (character.isalnum() and not cjk), hex(code)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZ9ＡＩ_ '-’.あア漢한\u3000\n\xb2\u0301ー")), max_size=600))
def test_reading_time_counts_as_the_loop_did_on_random_text(text: str) -> None:
    assert reading_time_minutes(text * 3) == _reading_time_by_loop(text * 3)
