"""Summaries that stand alone (issue 13, item 5): no sentence needs its predecessor or its heading."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.eval_summaries import leans_on_context
from bot.content.cleaned_body import Block, CleanedBody, Section
from bot.content.cleaning import clean_body
from bot.content.sentence_cues import stands_alone
from bot.content.summarize import SummaryLength, summarize, summarize_all
from bot.services.summary_files import read_post


@pytest.mark.parametrize(
    "sentence",
    [
        "そして今回、そのAlphaFoldが「4」となって、さらに「精度90%超え」だという。",
        "GPT-5の性能を一定程度維持しつつ、速度とコストを最適化したモデルです。",
        "2022年末のChatGPT登場以降、急速に進化を遂げてきました。",
        "しかし、導入には課題も残ります。",
        "この計画は、国内の半導体産業を立て直すためのものです。",
        "That is why the model matters.",
    ],
)
def test_sentences_that_lean_on_context(sentence: str) -> None:
    assert not stands_alone(sentence)
    assert leans_on_context(sentence)  # the bench's own reading agrees


@pytest.mark.parametrize(
    "sentence",
    [
        "GPT-5 Turboは、GPT-5の性能を維持しつつ速度とコストを最適化したモデルです。",
        "MetaもLlama 2で、オープンソースLLMの分野で確固たる地位を築きました。",
        "OpenAI released a new model for developers.",
    ],
)
def test_sentences_that_stand_alone(sentence: str) -> None:
    assert stands_alone(sentence)
    assert not leans_on_context(sentence)


def test_a_pick_that_refers_back_brings_the_sentence_before_it() -> None:
    # the persona's voice ("私たちの") keeps this one from being picked on its own
    antecedent = "近年、マルチモーダルAIの台頭は、私たちのビジネスとの関わり方を大きく変えようとしています。"
    referring = "画像や音声を統合的に理解できるこの技術は、2026年には多くの産業で標準化されると予測されています。"
    later = (  # share words with each other and with the referring pick, not with the antecedent
        "製造業では、画像検査の自動化で不良品の見逃しが半分以下に減り、標準化も進んでいます。",
        "医療の現場では、画像診断の自動化が医師の負担を軽くし、産業として標準化されつつあります。",
        "物流倉庫では、音声指示と画像認識の自動化が広がり、多くの産業の標準になりつつあります。",
        "小売店では、音声案内と画像分析の自動化で、在庫確認の標準化が多くの店舗で進みました。",
    )
    body = CleanedBody(
        (
            Section(None, 0, (Block("paragraph", antecedent + referring),)),
            Section("事例", 2, tuple(Block("paragraph", x) for x in later)),
        ),
        (),
    )
    sentences = summarize("現場で進む自動化", body, SummaryLength.STANDARD).sentences
    assert referring in sentences
    assert sentences.index(antecedent) == sentences.index(referring) - 1


@pytest.fixture(scope="module")
def sample_summaries(corpus_site: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted((corpus_site / "_posts").glob("*.md")):
        title, markdown, _ = read_post(str(path))
        for summary in summarize_all(title, clean_body(markdown, title=title)).values():
            out.extend((path.name, sentence) for sentence in summary.sentences)
    return out


def test_no_summary_sentence_of_the_sample_leans_on_context(sample_summaries: list[tuple[str, str]]) -> None:
    assert len(sample_summaries) > 400  # three lengths of 60 summaries: the 0 % means something
    assert [(name, s) for name, s in sample_summaries if leans_on_context(s)] == []
