"""The retention measure (bench/retention.py) and what it says of the cleaner on the real sample.

The measure reads Markdown its own simple way, so the tests first pin that reading down on
small posts, then hold the cleaner to it on every shared sample post.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.retention import measure_folder, reference_sentences, retention
from bot.content.cleaning import clean_body

ARTICLE = """---
title: "テスト記事"
---

最初の段落の一つ目の文です。二つ目の文がここにあります。

## 本題

本題の説明がここに書かれています。[リンクの文字](/x/)も本文の一部です。

```python
print("コードは文ではありません。")
```

| 表の | セル |
|---|---|
| 表の中身は数えません。 | x |

---

### あわせて読みたい

- [関連する別の記事のタイトルです。](/a/)

---

## 技術選定のご相談を承っています

実装経験に基づく技術選定のアドバイスをしています。

[お問い合わせはこちら](/services/)

---

## この記事に関連するおすすめ書籍

### [本の題名](https://www.amazon.co.jp/dp/1/)

本の説明文はフッターの一部です。

---

フッターの後にも記事の続きがあります。最初の段落の一つ目の文です。

## 続きの節

続きの節の本文もきちんと数えます。
"""


def test_reference_keeps_prose_and_leaves_out_markup_footers_and_repeats() -> None:
    assert reference_sentences(ARTICLE, "テスト記事") == [
        "最初の段落の一つ目の文です。",
        "二つ目の文がここにあります。",
        "本題の説明がここに書かれています。",
        "リンクの文字も本文の一部です。",
        "フッターの後にも記事の続きがあります。",
        "続きの節の本文もきちんと数えます。",
    ]


def test_reference_drops_boilerplate_sentences_and_title_restatements() -> None:
    body = (
        "---\ntitle: x\n---\n"
        "テスト記事の題名\n\n"
        "The article has 3600 characters. 本当の文はここにあります。\n\n"
        "導入のご相談は無料相談へどうぞ。AIの導入は段階的に進めるべきです。\n\n"
        "[詳しいガイドを見る →](/g/)\n"
    )
    assert reference_sentences(body, "テスト記事の題名") == [
        "本当の文はここにあります。",
        "AIの導入は段階的に進めるべきです。",
    ]


def test_a_sentence_is_kept_when_most_of_its_five_grams_are_in_the_cleaned_text() -> None:
    markdown = "一つ目の文はそのまま残ります。二つ目の文は消えてしまいました。\n"
    kept_one = retention("p.md", markdown, "一つ目の文はそのまま残ります。")
    assert (kept_one.kept, kept_one.sentences) == (1, 2)
    assert kept_one.lost == ("二つ目の文は消えてしまいました。",)
    # spacing, width and case do not matter; a small edit at the join does not lose the sentence
    almost = retention(
        "p.md", "ＡＢＣ社のモデルは高速に動作しますし安価です。\n", "abc社の モデルは高速に動作しますし安価。"
    )
    assert almost.share == 1.0


def test_an_empty_post_keeps_everything_it_has() -> None:
    assert retention("p.md", "---\ntitle: x\n---\n", "").share == 1.0


@pytest.fixture(scope="module")
def sample_retention(corpus_site: Path) -> list:
    return measure_folder(corpus_site / "_posts")


def test_every_sample_post_keeps_99_percent_of_its_prose(sample_retention: list) -> None:
    assert len(sample_retention) == 61
    below = {r.path: round(r.share, 3) for r in sample_retention if r.share < 0.99}
    assert below == {}


@pytest.mark.parametrize(
    "name",
    [
        "2026-02-18-1-ai-agents-business-transformat.md",
        "2026-02-19-2-open-source-llm-corporate-roi.md",
        "2026-03-12-1-openai-100-billion-funding-ai-.md",
        "2025-11-11-1-the-article-has-been-generated-according.md",
    ],
)
def test_the_text_after_a_footer_block_or_a_chatter_line_is_kept(sample_retention: list, name: str) -> None:
    (result,) = [r for r in sample_retention if r.path == name]
    assert result.sentences > 100
    assert result.share >= 0.99, result.lost


# Calls to action, related-post lists, affiliate lists and notices: none may reach the cleaned text.
BOILERPLATE_PHRASES = (
    "お問い合わせはこちら",
    "サービス詳細を見る",
    "技術選定でお困りですか？",
    "PoC開発もお気軽にご相談ください",
    "あわせて読みたい",
    "この記事に関連するおすすめ書籍",
    "技術選定のご相談を承っています",
    "AI導入のご相談を承っています",
    "AI導入戦略のご相談を承っています",
    "お手伝いしています",
    "Amazonで詳しく見る",
    "アフィリエイトリンク",
    "サイト運営をサポート",
    "無料相談",
    "お気軽にお問い合わせください",
    "The article has been generated",
)


def test_no_boilerplate_phrase_survives_cleaning_of_any_sample_post(corpus_site: Path) -> None:
    from bot.sources.post_reader import parse_post
    from bot.sources.site_config import load_site

    site = load_site(corpus_site)
    found = {}
    for file in sorted((corpus_site / "_posts").glob("*.md")):
        parsed = parse_post(file.read_bytes(), file.name, site)
        text = clean_body(parsed.body, parsed.title).text
        hits = [phrase for phrase in BOILERPLATE_PHRASES if phrase in text]
        if hits:
            found[file.name] = hits
    assert found == {}


def test_reference_leaves_out_a_leaked_prompt_and_a_quoted_title() -> None:
    body = (
        "---\ntitle: x\n---\n"
        "「テスト記事の題名とは？」\n\n"
        "本文の最初の文です。\n\n"
        "【既存の記事の最後の部分】\n本文の最初の文です。途中で切れた文\n\n【要求事項】\n"
        "1. 上記の文章から自然に続くように記事を完成させてください。\n- 自然な流れで続きを書いてください。\n\n"
        "続きを書いてください：\n\n"
        "続きの本文がここにあります。\n"
    )
    assert reference_sentences(body, "テスト記事の題名とは？") == [
        "本文の最初の文です。",
        "続きの本文がここにあります。",
    ]


def test_reference_counts_the_quote_after_an_existing_article_label_and_an_unclosed_prompt_ends() -> None:
    """【既存の記事の最後の部分】 labels a quote of the article, not an instruction; a prompt with no
    closing request ends at its first line of prose instead of taking the rest of the post."""
    body = (
        "---\ntitle: x\n---\n"
        "本文の最初の文です。\n\n"
        "【既存の記事の最後の部分】\n引用された記事の続きの文です。\n\n"
        "後の稿にしかない段落の文です。\n\n"
        "【要求事項】\n1. 上記の文章から自然に続くように記事を完成させてください。\n\n"
        "【注意】\n- 既存の内容を繰り返さないでください。\n\n"
        "閉じられていない指示の後の本文です。\n"
    )
    assert reference_sentences(body, "x") == [
        "本文の最初の文です。",
        "引用された記事の続きの文です。",
        "後の稿にしかない段落の文です。",
        "閉じられていない指示の後の本文です。",
    ]


def test_the_bench_measures_several_folders_together(corpus_site: Path, tmp_path: Path) -> None:
    import json

    from bench.retention import main

    cases = corpus_site.parent / "content-cases"
    if not cases.is_dir():
        pytest.skip(f"no content cases at {cases}")
    report = tmp_path / "retention.json"
    assert main(["--json", str(report), "--posts", str(corpus_site / "_posts"), str(cases)]) == 0
    document = json.loads(report.read_text(encoding="utf-8"))
    measured = {post["path"] for post in document["raw"]["posts"]}
    assert len(measured) == 63
    assert {"2025-11-04-1-nvidiaai.md", "2025-09-19-2-iphone-17ai.md"} <= measured
    rows = {row["measure"]: row["value"] for row in document["rows"]}
    assert rows["posts"] == "63" and "posts below 0.90" in rows
