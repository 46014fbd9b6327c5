"""Posts made of several drafts of one article: each paragraph a later draft adds is kept, once.

The pipeline glued a later draft after the first one, often behind a leaked prompt label
(「【既存の記事の最後の部分】」 and a quote of the article so far) that nothing closes. Cleaning
used to read everything after such a label as prompt and drop it up to the next heading, which
lost most of the later drafts (issue 21 point 19). The real posts are in ../shared/content-cases/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.retention import grams, measure_folder, normalise
from bot.content.cleaning import clean_body
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site

# Two kept blocks repeat each other when this share of the smaller one's character 5-grams is in
# the other (the retention measure's reading of text, NFKC and casefolded). Below 30 5-grams a
# block is a label or a heading-sized line: the title restated at a paragraph's start is not a repeat.
REPEAT_SHARE = 0.9
MIN_REPEAT_GRAMS = 30

CASES = ("2025-11-04-1-nvidiaai.md", "2025-09-19-2-iphone-17ai.md")


@pytest.fixture(scope="module")
def content_cases(corpus_site: Path) -> Path:
    cases = corpus_site.parent / "content-cases"
    if not cases.is_dir():
        pytest.skip(f"no content cases at {cases}")
    return cases


@pytest.mark.parametrize("name", CASES)
def test_each_multi_draft_case_keeps_90_percent_of_its_real_prose(content_cases: Path, name: str) -> None:
    (result,) = [r for r in measure_folder(content_cases) if r.path == name]
    assert result.sentences > 90
    assert result.share >= 0.9, (round(result.share, 3), result.lost[:5])


def _repeated_blocks(folder: Path) -> dict[str, list[tuple[str, str]]]:
    site = load_site(folder.parent if (folder.parent / "_config.yml").exists() else folder)
    found: dict[str, list[tuple[str, str]]] = {}
    for file in sorted(folder.glob("[0-9]*.md")):
        parsed = parse_post(file.read_bytes(), file.name, site)
        body = clean_body(parsed.body, parsed.title)
        blocks = [block.text for section in body.sections for block in section.blocks]
        block_grams = [grams(normalise(text)) for text in blocks]
        for i, mine in enumerate(block_grams):
            for j in range(i + 1, len(blocks)):
                other = block_grams[j]
                smaller = min(len(mine), len(other))
                if smaller >= MIN_REPEAT_GRAMS and len(mine & other) >= REPEAT_SHARE * smaller:
                    found.setdefault(file.name, []).append((blocks[i][:60], blocks[j][:60]))
    return found


def test_no_kept_block_repeats_another_in_the_content_cases(content_cases: Path) -> None:
    assert len(list(content_cases.glob("[0-9]*.md"))) == len(CASES)
    assert _repeated_blocks(content_cases) == {}


def test_no_kept_block_repeats_another_in_the_sample(corpus_site: Path) -> None:
    assert len(list((corpus_site / "_posts").glob("[0-9]*.md"))) == 61
    assert _repeated_blocks(corpus_site / "_posts") == {}


FIRST = "最初の稿の一つ目の段落で、提携の背景を説明しています。"
SECOND = "最初の稿の二つ目の段落では、計算資源の規模について述べています。"
THIRD = "最初の稿の三つ目の段落は、投資家への示唆をまとめたものです。"
NEW_ONE = "後の稿だけにある段落で、製造現場での品質管理の応用を掘り下げます。"
NEW_TWO = "後の稿だけにある別の段落で、人材育成という課題を取り上げています。"
NEW_THREE = "三つ目の稿で初めて出てくる段落は、データ主権の重要性を論じています。"


def _blocks(markdown: str) -> list[str]:
    return [block.text for section in clean_body(markdown).sections for block in section.blocks]


def test_later_drafts_behind_an_unclosed_quote_label_keep_their_new_paragraphs_once() -> None:
    markdown = (
        f"{FIRST}\n\n{SECOND}\n\n{THIRD}\n\n"
        f"【既存の記事の最後の部分】\n{SECOND}\n\n{THIRD}\n\n{NEW_ONE}\n\n{NEW_TWO}\n\n"
        f"{SECOND}\n\n{THIRD}\n\n{NEW_ONE}\n\n{NEW_TWO}\n\n{NEW_THREE}\n\n{SECOND}\n\n{NEW_ONE}\n"
    )
    assert _blocks(markdown) == [FIRST, SECOND, THIRD, NEW_ONE, NEW_TWO, NEW_THREE]


def test_a_quote_label_inline_with_its_quote_goes_and_the_quote_is_judged_as_text() -> None:
    label = "【既存の記事の最後の部分】"
    markdown = f"{FIRST}\n\n{label} {FIRST}\n\n{NEW_ONE}\n\n{label}\n\n{NEW_TWO}\n"
    assert _blocks(markdown) == [FIRST, NEW_ONE, NEW_TWO]


def test_an_unclosed_instruction_prompt_ends_at_the_next_prose_block() -> None:
    markdown = (
        f"{FIRST}\n\n【要求事項】\n1. 上記の文章から自然に続くように記事を完成させてください。\n"
        "2. 日本語として自然な文章で書いてください。\n\n【文体の指示】\n- 短文と長文のリズムを意識\n\n"
        "投資家・技術者にとって有用な情報を含めてください。\n\n"
        f"{NEW_ONE}\n\n{NEW_TWO}\n"
    )
    assert _blocks(markdown) == [FIRST, NEW_ONE, NEW_TWO]
