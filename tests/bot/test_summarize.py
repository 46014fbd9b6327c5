"""Tests for the extractive summariser: sentence rules, every "never" rule, lengths, and the real corpus."""

from __future__ import annotations

import difflib
import io
import json
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content.cleaning import Block, CleanedBody, Section, clean_body
from bot.content.sentence_rules import char_ngrams, has_residue, is_fragment, jaccard, repeats_title
from bot.content.sentences import split_sentences
from bot.content.summarize import SUMMARIZER_VERSION, Summary, SummaryLength, summarize, summarize_all
from bot.content.summary_scoring import WEIGHTS, Weights, prepare
from bot.services.summary_files import read_post, summarize_files


def body(*paragraphs: str, heading: str | None = None) -> CleanedBody:
    blocks = tuple(Block("paragraph", p) for p in paragraphs)
    return CleanedBody(sections=(Section(heading, 2, blocks),), tables=())


def sections(*parts: tuple[str | None, list[str]]) -> CleanedBody:
    return CleanedBody(
        sections=tuple(Section(h, 2, tuple(Block("paragraph", p) for p in ps)) for h, ps in parts), tables=()
    )


# --------------------------------------------------------------------------- sentence splitting


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今日は晴れ。明日は雨！本当に？", ["今日は晴れ。", "明日は雨！", "本当に？"]),
        ("半角でも終わる｡次の文!", ["半角でも終わる｡", "次の文!"]),
        ("全角の疑問符？そして感嘆符！", ["全角の疑問符？", "そして感嘆符！"]),
        ("彼は「これは本だ。面白い。」と言った。次の文。", ["彼は「これは本だ。面白い。」と言った。", "次の文。"]),
        ("題は『夜。朝。』です。次。", ["題は『夜。朝。』です。", "次。"]),
        ("これは驚きだ！」と彼は言った。", ["これは驚きだ！」と彼は言った。"]),
        ("本当ですか？）次の話です。", ["本当ですか？）", "次の話です。"]),
        ("すごい！」次の文です。", ["すごい！」", "次の文です。"]),
        ("GPT-4.1が出た。性能は3.14倍だ。", ["GPT-4.1が出た。", "性能は3.14倍だ。"]),
        ("Yahoo!ニュースで見た。次の文。", ["Yahoo!ニュースで見た。", "次の文。"]),
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("Use tools, e.g. a hammer. Then stop.", ["Use tools, e.g. a hammer.", "Then stop."]),
        ("The U.S. market grew. It was big.", ["The U.S. market grew.", "It was big."]),
        ("J. R. Tolkien wrote it. Fine.", ["J. R. Tolkien wrote it.", "Fine."]),
        ("一行目。\n二行目", ["一行目。", "二行目"]),
        ("閉じない「括弧。次の文。", ["閉じない「括弧。", "次の文。"]),
        ("PI EIS Technology Inc.が提供する。次。", ["PI EIS Technology Inc.が提供する。", "次。"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_empty() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n\n ") == []


# --------------------------------------------------------------------------- rule helpers


@pytest.mark.parametrize(
    "sentence",
    [
        "これは**太字**です。",
        "詳しくは[こちら](https://example.com)を見てください。",
        "{% include ads-mid-article.html %}の後の文です。",
        "<div>広告</div>の中身です。",
        "最後に---END---が残った文です。",
        "## 見出しのような文です。",
        "| 列 | 列 |",
        "数式 \\frac{a}{b} が残った文です。",
    ],
)
def test_residue_detected(sentence: str) -> None:
    assert has_residue(sentence)


def test_plain_sentence_has_no_residue() -> None:
    assert not has_residue("GPT-4.1は2025年に公開され、性能は3.14倍になりました。")


@pytest.mark.parametrize(
    "sentence",
    [
        "例えば、モデル",
        "の推論コストが下がりました。",
        "を実現しました。",
        "、そして終わりです。",
        "「閉じない括弧です。",
    ],
)
def test_fragments_detected(sentence: str) -> None:
    assert is_fragment(sentence)


@pytest.mark.parametrize(
    "sentence", ["しかし、それは違います。", "もちろん可能です。", "ではどうするべきでしょうか。", "It works."]
)
def test_whole_sentences_are_not_fragments(sentence: str) -> None:
    assert not is_fragment(sentence)


def test_title_repeat_detection() -> None:
    title = "2026年MetaのLlama 4、LLM競争の次なる一手は何をもたらすのか？の注目ポイントと導入効果"
    assert repeats_title("MetaのLlama 4、LLM競争の次なる一手は何をもたらすのか？", title)
    assert not repeats_title("推論コストは前世代の半分になり、企業導入が進みました。", title)


# --------------------------------------------------------------------------- the "never" rules

FILLER = [
    "生成AIの企業導入は二〇二五年に入って急速に広がり、製造業と金融業で本番運用が始まっている。",
    "調査会社の推計では、国内の生成AI市場は三年で四倍の規模に拡大する見込みである。",
    "一方で、導入企業の多くはデータ整備と人材育成を最大の課題として挙げている。",
    "専門家は、小さく始めて効果を測りながら範囲を広げる段階的な導入を勧めている。",
    "規制面では、欧州のAI法が高リスク用途に厳しい義務を課すことが決まった。",
    "国内企業も、欧州で事業を行う場合には適合性評価の準備が必要になる。",
]


def test_no_two_sentences_say_the_same_thing() -> None:
    near_copy = FILLER[0].replace("急速に", "非常に急速に")
    s = summarize("タイトル", body(FILLER[0], near_copy, *FILLER[1:]), SummaryLength.LONG)
    for i, a in enumerate(s.sentences):
        for b in s.sentences[i + 1 :]:
            assert jaccard(char_ngrams(a), char_ngrams(b)) < 0.8


def test_never_a_fragment() -> None:
    s = summarize("タイトル", body("例えば、モデル", "の推論コストが大きく下がったことで導入が広がった。", *FILLER))
    assert s.sentences
    assert all(not is_fragment(x) for x in s.sentences)


def test_never_residue() -> None:
    dirty = [
        "**太字の強調**が残ったまま、とても重要な内容を長々と説明している文章です。",
        "ここに{% include ads-mid-article.html %}が挟まった重要そうな文章が続いています。",
        "生成AIの企業導入は急速に広がっている。---END---",
        "<span>生成AIの企業導入</span>は急速に広がっていると言われている。",
    ]
    s = summarize("タイトル", body(*dirty, *FILLER), SummaryLength.LONG)
    assert s.sentences
    assert not any(has_residue(x) for x in s.sentences)


def test_never_repeats_the_title() -> None:
    title = "生成AIの企業導入が急速に広がる理由とは？"
    s = summarize(
        title, body("生成AIの企業導入が急速に広がる理由とは？", "生成AIの企業導入が急速に広がる理由とは。", *FILLER)
    )
    assert s.sentences
    assert not any(repeats_title(x, title) for x in s.sentences)


@pytest.mark.parametrize(
    "boilerplate",
    [
        "AI導入でお悩みの方は、ぜひ無料相談をご利用ください。",
        "いやはや、驚きましたね。",
        "あなたの会社では、生成AIをどのように活用していますか？",
        "目次：背景、課題、展望、まとめの順に解説します。",
        "スマートグラスの分野は、多くの企業が挑戦し、そして苦戦してきた歴史がありますからね。",
    ],
)
def test_boilerplate_skipped_when_better_sentences_exist(boilerplate: str) -> None:
    s = summarize("タイトル", body(boilerplate, *FILLER))
    assert s.sentences
    assert boilerplate not in s.sentences


def test_related_articles_section_skipped() -> None:
    doc = sections(
        (None, FILLER[:3]), ("関連記事", ["生成AIの導入事例を詳しく紹介した過去の記事をまとめて読むことができます。"])
    )
    assert not any("過去の記事" in x for x in summarize("タイトル", doc, SummaryLength.LONG).sentences)


def test_sentences_in_article_order_and_spread_over_sections() -> None:
    doc = sections(("背景", FILLER[:2]), ("課題", FILLER[2:4]), ("規制", FILLER[4:]))
    for length in SummaryLength:
        positions = [FILLER.index(x) for x in summarize("タイトル", doc, length).sentences]
        assert positions == sorted(positions)
    long_positions = [FILLER.index(x) for x in summarize("タイトル", doc, SummaryLength.LONG).sentences]
    assert len({p // 2 for p in long_positions}) == 3


def test_standard_summary_spreads_over_sections_only_when_the_weights_say_so() -> None:
    doc = sections(("背景", FILLER[:2]), ("課題", FILLER[2:4]), ("規制", FILLER[4:]))
    spread = summarize("タイトル", doc, SummaryLength.STANDARD, replace(WEIGHTS, spread=True))
    assert len({FILLER.index(x) // 2 for x in spread.sentences}) == len(spread.sentences)
    unspread = summarize("タイトル", doc, SummaryLength.STANDARD, replace(WEIGHTS, spread=False))
    assert len({FILLER.index(x) // 2 for x in unspread.sentences}) < len(unspread.sentences)


def test_news_sentence_sharing_the_title_is_kept_but_a_restatement_is_not() -> None:
    title = "OpenAIが1000億ドル超えの資金調達交渉、AI業界の未来はどう変わる？"
    news = (
        "関係者によると、OpenAIは評価額8300億ドルを前提に、1000億ドル超の資金調達交渉を"
        "ソフトバンクなど複数の投資家と進めており、年内の合意を目指している。"
    )
    assert repeats_title(news, title, 0.35)  # shares a third of the title, but mostly says more
    restated = "OpenAIが1000億ドル超えの資金調達交渉、AI業界の未来が変わる。"
    s = summarize(title, body(restated, news, *FILLER), SummaryLength.LONG)
    assert news in s.sentences
    assert restated not in s.sentences


def test_opening_news_leads_after_persona_chat() -> None:
    opening = [
        "正直なところ、このニュースを聞いた時、私の最初の反応は「またか」でした。",
        "この業界を20年も見ていると、こうした話には慎重になりますからね。",
        "OpenAIは28日、新型モデル「GPT-6」を発表し、来月から法人向けの提供を始めると明らかにした。",
    ]
    doc = sections(("", opening), ("背景", FILLER[:3]), ("課題", FILLER[3:]))
    for length in SummaryLength:
        assert summarize("OpenAIのGPT-6発表、その真意とは", doc, length).sentences[0] == opening[2]


@pytest.mark.parametrize(
    "scope",
    [
        "今回は、GPT-6の性能と料金、企業が導入する際の注意点について、開発現場の視点から掘り下げていきます。",
        "GPT-6の性能と料金、企業が導入する際の注意点について、開発現場の視点から解説します。",
        "本記事では、GPT-6の性能と料金、企業が導入する際の注意点を解説します。",
    ],
)
def test_the_articles_own_statement_of_scope_is_in_the_summary(scope: str) -> None:
    """Authors' abstracts on this blog read "…を解説。…を紹介。": the body's nearest sentence is the
    one where the article states what it covers, however it opens, not only "本記事では…"."""
    opening = [
        "正直なところ、このニュースを聞いた時、私の最初の反応は「またか」でした。",
        "OpenAIは28日、新型モデル「GPT-6」を発表し、来月から法人向けの提供を始めると明らかにした。",
        scope,
    ]
    doc = sections(("", opening), ("背景", FILLER[:3]), ("課題", FILLER[3:]))
    s = summarize("OpenAIのGPT-6発表、その真意とは", doc, SummaryLength.STANDARD)
    assert scope in s.sentences


def test_tags_weigh_for_sentences_naming_them_as_much_as_the_weights_say() -> None:
    tagged = "生成AIの企業導入では、社内文書をベクトル検索で引くRAGの導入が広がっている。"
    doc = sections(("背景", FILLER[:3]), ("仕組み", [tagged, *FILLER[3:5]]), ("展望", FILLER[5:]))
    title, tags = "企業のAI活用、その現状と課題", ("RAG", "ベクトル検索")

    def top(weights: Weights, subjects: tuple[str, ...]) -> str:
        return max(prepare(title, doc, weights, subjects).candidates, key=lambda c: c.score).text

    assert top(replace(WEIGHTS, subjects=2.0), tags) == tagged
    assert top(replace(WEIGHTS, subjects=2.0), ()) != tagged
    assert top(replace(WEIGHTS, subjects=0.0), tags) != tagged


def test_the_opening_section_weighs_as_much_as_the_weights_say() -> None:
    doc = sections(("概況", FILLER[:2]), ("課題", FILLER[2:4]), ("規制", FILLER[4:]))

    def score_of(weights: Weights, sentence: str) -> float:
        return next(c.score for c in prepare("タイトル", doc, weights).candidates if c.text == sentence)

    for sentence in FILLER[:2]:
        assert score_of(replace(WEIGHTS, opening=1.0), sentence) > score_of(replace(WEIGHTS, opening=0.0), sentence)


def test_summary_does_not_open_with_a_connective() -> None:
    paragraphs = ["しかし、" + FILLER[1], "特に、" + FILLER[3], *FILLER[4:]]
    s = summarize("タイトル", body(*paragraphs), SummaryLength.LONG)
    assert s.sentences
    assert not s.sentences[0].startswith("しかし")
    assert not any(x.startswith("特に、") for x in s.sentences)


# --------------------------------------------------------------------------- lengths and availability


def test_lengths() -> None:
    doc = sections(("背景", FILLER[:2]), ("課題", FILLER[2:4]), ("規制", FILLER[4:]))
    all_ = summarize_all("タイトル", doc)
    assert 1 <= len(all_[SummaryLength.SHORT].sentences) <= 2
    assert len(all_[SummaryLength.STANDARD].sentences) == 3
    assert 100 <= len(all_[SummaryLength.STANDARD].text) <= 400
    assert 5 <= len(all_[SummaryLength.LONG].sentences) <= 6
    for length in SummaryLength:
        assert all_[length] == summarize("タイトル", doc, length)


def test_chatter_before_the_article_goes_and_the_article_is_summarised() -> None:
    chatter = body(
        "The article has been generated according to the instructions. I will now check the character count.",
        "さて、文字数も無事に範囲に収まったようだね。",
        *FILLER,
    )
    s = summarize("The article has been generated according？", chatter)
    assert s.available
    assert set(s.sentences) <= set(FILLER)
    assert not summarize("x", body("さて、文字数も無事に範囲に収まったようだね。")).available


def test_no_prose_gives_no_summary() -> None:
    garbage = body("\\begin{eq} x_{1} = \\frac{a}{b} \\end{eq}", "$$ \\sum_{i} \\alpha_i $$", "| a | b |")
    assert not summarize("数式", garbage).available
    assert not summarize("空", CleanedBody(sections=(), tables=())).available


def test_english_sentences_joined_with_a_space() -> None:
    assert Summary(("It rose.", "It fell.")).text == "It rose. It fell."
    assert Summary(("上がった。", "下がった。")).text == "上がった。下がった。"


def test_version_is_a_string() -> None:
    assert isinstance(SUMMARIZER_VERSION, str) and SUMMARIZER_VERSION


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=40),
    st.lists(
        st.tuples(st.one_of(st.none(), st.text(max_size=20)), st.lists(st.text(max_size=300), max_size=5)), max_size=4
    ),
)
def test_summarize_never_raises(title: str, parts: list[tuple[str | None, list[str]]]) -> None:
    doc = sections(*parts)
    for s in summarize_all(title, doc).values():
        assert len(s.text) <= 4096
        assert all(s.sentences)


# --------------------------------------------------------------------------- kiji summarize FILE


def test_summarize_files_json(tmp_path: Path) -> None:
    good = tmp_path / "2026-01-01-post.md"
    good.write_text("---\ntitle: 見出し\n---\n\n" + "\n\n".join(FILLER) + "\n", encoding="utf-8")
    bad = tmp_path / "missing.md"
    broken = tmp_path / "broken.md"
    broken.write_bytes(b"---\ntitle: [unclosed\n---\n\nbody\n")
    out = io.StringIO()
    code = summarize_files([str(good), str(bad), str(broken)], "standard", True, out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["path"] for r in records] == [str(good), str(bad), str(broken)]
    assert records[0]["error"] is None and records[0]["title"] == "見出し"
    assert len(records[0]["sentences"]) == 3 and records[0]["summary"] == "".join(records[0]["sentences"])
    assert records[1]["error"] and records[2]["error"]
    assert code == 1


def test_summarize_files_text(tmp_path: Path) -> None:
    good = tmp_path / "p.md"
    good.write_text("---\ntitle: 見出し\n---\n\n" + "\n\n".join(FILLER) + "\n", encoding="utf-8")
    out = io.StringIO()
    assert summarize_files([str(good)], "short", False, out) == 0
    assert ("見出し" in out.getvalue() and FILLER[0][:10] in out.getvalue()) or "。" in out.getvalue()


# --------------------------------------------------------------------------- the real corpus


def corpus_summaries(site: Path) -> list[tuple[str, str, dict[SummaryLength, Summary]]]:
    out = []
    for path in sorted((site / "_posts").glob("*.md")):
        title, markdown, _ = read_post(str(path))
        out.append((path.name, title, summarize_all(title, clean_body(markdown, title=title))))
    return out


@pytest.fixture(scope="module")
def corpus(corpus_site: Path) -> list[tuple[str, str, dict[SummaryLength, Summary]]]:
    return corpus_summaries(corpus_site)


def test_corpus_summaries_pass_the_selection_rules(corpus: list[tuple[str, str, dict[SummaryLength, Summary]]]) -> None:
    """The summariser's own rules hold on every summary it chose (a consistency check; the grading is below)."""
    problems = []
    for name, title, by_length in corpus:
        for length, s in by_length.items():
            for i, x in enumerate(s.sentences):
                if has_residue(x):
                    problems.append((name, length, "residue", x))
                if is_fragment(x):
                    problems.append((name, length, "fragment", x))
                if repeats_title(x, title):
                    problems.append((name, length, "title", x))
                for y in s.sentences[i + 1 :]:
                    if jaccard(char_ngrams(x), char_ngrams(y)) >= 0.8:
                        problems.append((name, length, "duplicate", x))
    assert problems == []


# Grading against expectations independent of the summariser: nothing below uses its rules,
# its sentence splitter or its similarity measures; each is a plain check written here.

_SENTENCE_END = tuple("。！？!?.」』）)")
_MARKUP = re.compile(r"\*\*|^#|\|\s|```|\]\(|<[a-z/]|\{%|---|https?://", re.MULTILINE)


def _letters(text: str) -> str:
    """Letters and digits only, NFKC and case folded: what two spellings of one text share."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _article_letters(markdown: str) -> str:
    return _letters(re.sub(r"<[^>]+>", "", re.sub(r"\]\([^)]*\)", "]", markdown)))


def _independent_problems(title: str, markdown: str, sentences: Sequence[str]) -> list[str]:
    """What a reader would object to: text not in the article, unfinished, the title again, markup, twice."""
    article, heading = _article_letters(markdown), _letters(title)
    found = []
    for i, sentence in enumerate(sentences):
        letters = _letters(sentence)
        if letters not in article:
            found.append(f"not a passage of the article: {sentence[:60]}")
        if not sentence.rstrip().endswith(_SENTENCE_END):
            found.append(f"unfinished: {sentence[-40:]}")
        if letters in heading or difflib.SequenceMatcher(None, letters, heading).ratio() >= 0.7:
            found.append(f"the title again: {sentence[:60]}")
        if _MARKUP.search(sentence):
            found.append(f"markup: {sentence[:60]}")
        for other in sentences[i + 1 :]:
            if difflib.SequenceMatcher(None, letters, _letters(other)).ratio() >= 0.8:
                found.append(f"said twice: {sentence[:60]}")
    return found


def _plain_sentences(markdown: str) -> list[str]:
    """The article's prose split at 。！？!? — a naive reading, for baselines."""
    skipped = ("#", "|", "```", "<", "{%", "---", ">")
    lines = [line for line in markdown.splitlines() if line.strip() and not line.lstrip().startswith(skipped)]
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", "\n".join(lines))
    return [s for s in re.findall(r"[^。！？!?\n]+[。！？!?]", text) if len(_letters(s)) >= 10]


def _bigram_f1(candidate: str, reference: str) -> float:
    def grams(text: str) -> Counter[str]:
        letters = _letters(text)
        return Counter(letters[i : i + 2] for i in range(len(letters) - 1))

    c, r = grams(candidate), grams(reference)
    overlap = sum((c & r).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(c.values()), overlap / sum(r.values())
    return 2 * precision * recall / (precision + recall)


@pytest.fixture(scope="module")
def corpus_posts(corpus_site: Path) -> list[tuple[str, str, str, str | None]]:
    """(file name, title, Markdown body, front-matter description) of every sample post."""
    return [(path.name, *read_post(str(path))) for path in sorted((corpus_site / "_posts").glob("*.md"))]


def test_corpus_targets(
    corpus: list[tuple[str, str, dict[SummaryLength, Summary]]],
    corpus_posts: list[tuple[str, str, str, str | None]],
) -> None:
    markdown = {name: body for name, _, body, _ in corpus_posts}
    problems = [
        (name, str(length), problem)
        for name, title, by_length in corpus
        for length, s in by_length.items()
        for problem in _independent_problems(title, markdown[name], s.sentences)
    ]
    assert problems == []
    # The grader can fail: it objects to most naive first-three-lines summaries of the same posts.
    naive = [
        bool(
            _independent_problems(
                title, body, [p.strip() for p in re.split(r"(?<=[。！？])|\n", body) if p.strip()][:3]
            )
        )
        for _, title, body, _ in corpus_posts
    ]
    assert sum(naive) >= len(naive) // 2


def test_corpus_summaries_are_near_the_authors_abstracts(
    corpus: list[tuple[str, str, dict[SummaryLength, Summary]]],
    corpus_posts: list[tuple[str, str, str, str | None]],
) -> None:
    """Against the descriptions that are abstracts (not a copy of the opening), next to naive picks.

    Character-bigram F1 with the description, averaged over those posts: the summary must be
    closer to what the authors said the article is about than the same number of sentences
    from the middle or the end of the article, and no further than its opening sentences.
    """
    summaries = {name: by_length[SummaryLength.STANDARD] for name, _, by_length in corpus}
    scores: dict[str, list[float]] = {"kiji": [], "opening": [], "middle": [], "end": []}
    for name, _, body, description in corpus_posts:
        if not description or not summaries[name].available:
            continue
        abstract = _letters(re.sub(r"(\.\.\.|…)+\s*$", "", description))
        opening = _letters(body)[:600]
        if abstract[:40] in opening or abstract[40:80] in opening:
            continue  # a copy of the opening, not an abstract
        plain, k = _plain_sentences(body), len(summaries[name].sentences)
        middle = len(plain) // 2
        scores["kiji"].append(_bigram_f1(summaries[name].text, description))
        scores["opening"].append(_bigram_f1("".join(plain[:k]), description))
        scores["middle"].append(_bigram_f1("".join(plain[middle : middle + k]), description))
        scores["end"].append(_bigram_f1("".join(plain[-k:]), description))
    assert len(scores["kiji"]) >= 10, "too few abstract descriptions in the sample to grade against"
    mean = {system: statistics.mean(values) for system, values in scores.items()}
    assert mean["kiji"] >= 1.5 * max(mean["middle"], mean["end"]), mean
    assert mean["kiji"] >= 0.95 * mean["opening"], mean


def test_corpus_lengths(corpus: list[tuple[str, str, dict[SummaryLength, Summary]]]) -> None:
    unavailable = [name for name, _, s in corpus if not s[SummaryLength.STANDARD].available]
    # 2025-11-11-1 opens with the pipeline's chatter; the article after it is summarised too
    assert unavailable == []
    for name, _, s in corpus:
        if name in unavailable:
            continue
        assert 1 <= len(s[SummaryLength.SHORT].sentences) <= 2, name
        # three sentences, or two that already reach the standard length (the length adapts)
        standard = s[SummaryLength.STANDARD]
        assert len(standard.sentences) == 3 or (len(standard.sentences) == 2 and len(standard.text) >= 150), name
        assert 150 <= len(standard.text) <= 400, name
        assert 5 <= len(s[SummaryLength.LONG].sentences) <= 6, name
        assert len(s[SummaryLength.LONG].text) <= 4096, name
