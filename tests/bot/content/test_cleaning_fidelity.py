"""What cleaning must keep (issue 13, items 1–2): each rule that once lost real prose, on a small post."""

from __future__ import annotations

from bot.content.cleaning import CleanedBody, clean_body


def _blocks(body: CleanedBody) -> list[str]:
    return [b.text for s in body.sections for b in s.blocks]


def test_state_sponsored_is_prose_not_a_sponsor_label() -> None:
    text = "Now, we are talking about state-sponsored AI attacks on banks. It is a complex dance."
    assert _blocks(clean_body(text)) == [text]
    assert _blocks(clean_body("Sponsored: buy our GPUs today.\n\n" + text)) == [text]


SENTENCES = (
    "この進化の裏側には、常に責任が伴います。",
    "前述した倫理的な課題、特にフェイクニュースの問題は、社会に深刻な影響を及ぼしかねません。",
    "Metaはこれらのリスクに対して、透明性を持って情報開示する責任があります。",
    "AIの出力に信頼性を担保するためのウォーターマーク技術も、悪用の検出も欠かせません。",
    "開発者コミュニティとの対話を通じて、安全な利用の指針を共に作ることも求められます。",
    "規制当局との協力も、国や地域ごとに異なる事情を踏まえて進める必要があるでしょう。",
    "企業の導入担当者にとっては、社内の利用規程を整えることが最初の一歩になります。",
    "教育の現場でも、生成された文章を見分ける力を育てる取り組みが始まっています。",
    "投資家は、こうした安全対策への支出を長期的な価値として評価し始めています。",
    "研究者の間では、評価の基準そのものを公開して検証できるようにする動きがあります。",
    "利用者の側も、出典を確かめる習慣を身につけることで被害を減らすことができます。",
    "こうした取り組みが重なって初めて、技術への信頼は社会に根づいていくはずです。",
)


def test_a_near_copy_keeps_the_sentence_it_adds() -> None:
    added = "AIの生成能力が向上すればするほど、ディープフェイクの社会問題も深刻化します。"
    first = "".join(SENTENCES)
    # a near-copy: one sentence rewritten, the others with other commas (so none is said again exactly)
    copy = "".join((*SENTENCES[:2], added, *SENTENCES[3:])).replace("、", "，")
    blocks = _blocks(clean_body(f"{first}\n\n## 次の節\n\n{copy}"))
    assert blocks == [first, added.replace("、", "，")]


def test_a_fuller_copy_of_a_copy_already_replaced_keeps_its_text() -> None:
    """X, Y, then X+Y (takes X's place, drops Y), then Y+more: the "more" must stay."""
    x, y, more = "".join(SENTENCES[:2]), "".join(SENTENCES[2:4]), "".join(SENTENCES[4:])
    body = clean_body(f"{x}\n\n{y}\n\n{x}{y}\n\n{y}{more}")
    assert _blocks(body) == [x + y, more]


def test_a_subtitle_after_a_question_is_not_trimmed_as_cut() -> None:
    line = "「Stargate Project」の真意とは？AIインフラ投資の巨大な波が示す未来"
    assert _blocks(clean_body(f"{line}\n\n本文はここから始まります。")) == [line, "本文はここから始まります。"]


def test_a_sentence_only_missing_its_end_mark_is_kept_a_cut_one_is_trimmed() -> None:
    finished = "不安の声が上がります。しかし、AIは人間の仕事を奪うのではなく、仕事をシフトさせるものです"
    listed = "性能: 日本語対応が良好。Google製のため品質が安定 適している用途: 日本語のテキスト処理、分類、要約"
    cut = "ExpEtherは新たな設計思想をもたらします。機微データを物理的に"
    body = clean_body(f"{finished}\n\n{listed}\n\n{cut}")
    assert _blocks(body) == [finished, listed, "ExpEtherは新たな設計思想をもたらします。"]


def test_a_title_line_goes_and_its_subtitle_stays() -> None:
    title = "EU AI Act施行、日本企業が取るべき一手とは？"
    body = clean_body(f"{title} 実務経験から見たリスクと対策\n\n本文はここから始まります。", title)
    assert _blocks(body) == ["実務経験から見たリスクと対策", "本文はここから始まります。"]
