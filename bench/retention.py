"""How much of each post's real prose survives cleaning: `python -m bench.retention [--posts DIR ...]`.

The reference is deliberately NOT the cleaner: a plain, line-by-line reading of the Markdown
that anyone can check by eye. It drops the front matter, code fences, tables, headings, HTML
and Liquid, keeps the text of links, removes sentences carrying one of a short fixed list of
boilerplate phrases and whole footer blocks (a heading naming a footer, up to the next `---`
rule or the next heading that is neither a footer heading nor a link), and de-duplicates exact
repeats. What is left is the post's unique prose sentences.

A sentence counts as kept when at least 80 % of its character 5-grams (NFKC, casefolded,
whitespace removed) occur in the cleaned text: generous to the cleaner's rejoining of cut
sentences and its inline stripping, strict about a sentence that is gone.

The phrase lists here are the measure's own on purpose (not `bot.content.boilerplate`): if the
product's list over-matched real prose, sharing it would hide exactly that loss.
"""

from __future__ import annotations

import html
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bench._common import CORPUS, Row, base_parser, emit

KEPT_SHARE = 0.8
GRAM = 5
MIN_SENTENCE_CHARS = 10

# Sentences with one of these are calls to action, affiliate notices or pipeline chatter.
MEASURE_BOILERPLATE = (
    "お問い合わせはこちら",
    "お問い合わせください",
    "サービス詳細を見る",
    "お困りですか",
    "お気軽にご相談",
    "ご相談を承って",
    "ご相談は無料",
    "無料相談",
    "無料で承って",
    "お手伝いしています",
    "あわせて読みたい",
    "この記事に関連するおすすめ書籍",
    "Amazonで詳しく見る",
    "アフィリエイト",
    "サイト運営をサポート",
    "The article has",
    "I will now check",
    "requested range",
)
# A heading with one of these opens a footer block.
FOOTER_HEADINGS = (
    "関連記事",
    "あわせて読みたい",
    "合わせて読みたい",
    "おすすめ書籍",
    "ご相談",
    "お問い合わせ",
    "お手伝いしています",
)

# A leaked generation prompt: a 【…】 instruction header, its list of instructions and its closing
# request. 【既存の記事の最後の部分】 only labels a quote of the article: the label goes, the quoted
# prose stays (a repeat counts once). Any other line ends the prompt: one left unclosed must not
# take the rest of the post with it.
_PROMPT_START = re.compile(r"^\s*【(?:要求事項|文体の指示|注意|指示|制約|出力形式)[^】]*】")
_QUOTE_LABEL = re.compile(r"^\s*【既存の記事[^】]*】")
_PROMPT_CLOSE = re.compile(r"^\s*続きを書いてください")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*\n", re.DOTALL)
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s|$)")
_RULE = re.compile(r"^\s{0,3}(?:-{3,}|\*{3,}|_{3,})\s*$")
_LINK_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+\[[^\]]*\]\([^)]*\)\s*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"<[^>]+>")
_LIQUID = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{:[^}]*\}")
_END = re.compile(r"-{2,}\s*END\s*-{2,}", re.IGNORECASE)
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_QUOTE_MARK = re.compile(r"^\s*>\s?")
_EMPHASIS = re.compile(r"[*_`~]+")
# a sentence ends at its end mark and the closing brackets after it; an English one at ". "
_SENTENCE_BREAK = re.compile(
    r"(?<=[。！？!?])(?![」』）)”’\"'。！？!?])|(?<=[。！？!?][」』）)”’\"'])|(?<=[.!?])(?=\s)"
)
# a button ("…を見る →") or a row of three or more links ("東京都 | 大阪府 | …") is navigation
_BUTTON = re.compile(r"→\s*$")
_LINK_ROW = re.compile(r"(?:\[[^\]]*\]\([^)]*\)\s*\|\s*){2,}\[")
_SPACE = re.compile(r"\s+")
# quoting a title 「…」 still restates it
_BRACKETS = re.compile(r"[「」『』\"“”]")


def normalise(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text).casefold())


def grams(key: str) -> set[str]:
    if len(key) <= GRAM:
        return {key} if key else set()
    return {key[i : i + GRAM] for i in range(len(key) - GRAM + 1)}


def _is_footer_heading(line: str) -> bool:
    return any(phrase in line for phrase in FOOTER_HEADINGS)


def prose_lines(markdown: str) -> list[str]:
    """The body's lines of prose, markup removed, footer blocks and code left out."""
    body = _FRONT_MATTER.sub("", markdown.replace("\r\n", "\n"), count=1)
    out: list[str] = []
    in_fence = False
    in_footer = False
    in_prompt = False
    for line in body.split("\n"):
        line = _QUOTE_LABEL.sub("", line)
        if _PROMPT_START.match(line):
            in_prompt = True
            continue
        if in_prompt:
            if _PROMPT_CLOSE.match(line):
                in_prompt = False
                continue
            if not line.strip() or _LIST_MARK.match(line):
                continue
            in_prompt = False
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if _RULE.match(line):
            in_footer = False
            continue
        if _HEADING.match(line):
            if _is_footer_heading(line):
                in_footer = True
            elif not (in_footer and _LINK_HEADING.match(line)):
                in_footer = False
            continue
        if in_footer or line.lstrip().startswith("|") or _LINK_ROW.search(line):
            continue
        text = _IMAGE.sub("", line)
        text = _LINK.sub(r"\1", text)
        text = _LIQUID.sub("", text)
        text = _HTML_TAG.sub("", html.unescape(text))
        text = _END.sub(" ", text)
        text = _QUOTE_MARK.sub("", text)
        text = _LIST_MARK.sub("", text)
        text = _EMPHASIS.sub("", text).strip()
        if text and not _BUTTON.search(text):
            out.append(text)
    return out


def reference_sentences(markdown: str, title: str = "") -> list[str]:
    """The post's unique prose sentences, boilerplate removed, in order.

    A sentence that is (part of) the title restates it: the title is shown beside the text.
    """
    seen: set[str] = set()
    title_key = _BRACKETS.sub("", normalise(title))
    sentences: list[str] = []
    for line in prose_lines(markdown):
        for sentence in _SENTENCE_BREAK.split(line):
            sentence = sentence.strip()
            key = normalise(sentence)
            if len(key) < MIN_SENTENCE_CHARS or key in seen or _BRACKETS.sub("", key) in title_key:
                continue
            seen.add(key)
            if any(phrase in sentence for phrase in MEASURE_BOILERPLATE):
                continue
            sentences.append(sentence)
    return sentences


@dataclass(frozen=True)
class Retention:
    path: str
    sentences: int
    kept: int
    lost: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.kept / self.sentences if self.sentences else 1.0


def retention(path: str, markdown: str, cleaned_text: str, title: str = "") -> Retention:
    """The share of `markdown`'s reference sentences that `cleaned_text` keeps."""
    available = grams(normalise(cleaned_text))
    kept = 0
    lost: list[str] = []
    for sentence in reference_sentences(markdown, title):
        own = grams(normalise(sentence))
        if len(own & available) >= KEPT_SHARE * len(own):
            kept += 1
        else:
            lost.append(sentence)
    return Retention(path, kept + len(lost), kept, tuple(lost))


def measure_folder(posts: Path) -> list[Retention]:
    """Retention of every post in `posts`, cleaned the way ingest cleans it."""
    from bot.content.cleaning import clean_body
    from bot.sources.post_error import PostError
    from bot.sources.post_reader import parse_post
    from bot.sources.site_config import load_site

    site = load_site(posts.parent if (posts.parent / "_config.yml").exists() else posts)
    results = []
    for file in sorted(posts.glob("*.md")):
        data = file.read_bytes()
        try:
            parsed = parse_post(data, file.name, site)
        except PostError:
            continue
        cleaned = clean_body(parsed.body, parsed.title).text
        results.append(retention(file.name, data.decode("utf-8", "replace"), cleaned, parsed.title))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--posts",
        type=Path,
        nargs="+",
        default=[CORPUS / "_posts"],
        help="folders of Markdown posts, measured together (e.g. the sample, summary-dev and content-cases)",
    )
    parser.add_argument("--show-lost", action="store_true", help="print the sentences each post loses")
    args = parser.parse_args(argv)
    missing = [str(folder) for folder in args.posts if not folder.is_dir()]
    if missing:
        print(f"no posts folder at {', '.join(missing)}", file=sys.stderr)
        return 2
    results = [result for folder in args.posts for result in measure_folder(folder)]
    if not results:
        print(f"no readable posts in {', '.join(map(str, args.posts))}", file=sys.stderr)
        return 2
    mean = sum(r.share for r in results) / len(results)
    below_90 = [r for r in results if r.share < 0.9]
    below_95 = [r for r in results if r.share < 0.95]
    below_99 = [r for r in results if r.share < 0.99]
    for r in sorted(results, key=lambda r: r.share):
        if r.share < 1.0:
            print(f"{r.share:6.3f}  {r.kept:4d}/{r.sentences:<4d} {r.path}")
            if args.show_lost:
                for sentence in r.lost:
                    print(f"        lost: {sentence[:100]}")
    rows = [
        Row("posts", str(len(results))),
        Row("mean retention", f"{mean:.4f}", target="≥ 0.995 (issue 21)", result="pass" if mean >= 0.995 else "FAIL"),
        Row("posts below 0.90", str(len(below_90)), target="0", result="pass" if not below_90 else "FAIL"),
        Row("posts below 0.95", str(len(below_95)), target="0", result="pass" if not below_95 else "FAIL"),
        Row("posts below 0.99", str(len(below_99)), target="0", result="pass" if not below_99 else "FAIL"),
    ]
    raw = {"posts": [{"path": r.path, "sentences": r.sentences, "kept": r.kept} for r in results]}
    emit("Retention of article prose after cleaning", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
