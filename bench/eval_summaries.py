"""Quality and speed of Kiji's extractive summaries against three baselines, on real posts.

Run: `.venv/bin/python -m bench.eval_summaries [--posts DIR ...] [--show N] [--tune]`.
By default it reads `../shared/corpus-sample/` and `../shared/summary-dev/` together (301 posts,
97 with an abstract).

Every system produces a `standard` summary of each post:

- **kiji**: `bot.content.summarize.summarize` on `bot.content.cleaning.clean_body` output and the
  post's tags, with the shipped weights (`WEIGHTS`). Its ROUGE is in-sample: the weights were fitted
  on these abstracts.
- **kiji (5-fold CV)**: ROUGE-L only, the honest figure: for each fold, the weights chosen on the other
  folds (each knob's best main effect over the grid), scored on that fold; the mean over folds
  (`bench.summary_cv`).
- **sumy-lexrank**: the graph baseline: sumy's LexRank, 3 sentences, on the cleaned text, with
  sumy's Japanese tokenizer (tinysegmenter words, 。！？ sentences) and its Japanese stemmer.
- **clean-lead3**: the first three sentences of the cleaned prose (headings left out).
- **naive-lead3**: the first three sentences of the raw Markdown body.

Measures (share of posts whose summary has at least one):

- **duplicate**: a sentence pair with character-3-gram Jaccard >= 0.8 after NFKC,
  casefolding and dropping everything but letters and digits.
- **residue**: Markdown, HTML, Liquid or chunk-marker syntax. Checked with this file's own
  pattern, broader than the summariser's filter so that the bench is not grading its own
  homework: `**`, `__`, backticks, `#`, `|`, an HTML tag, `{%`/`{{`, `---`, `](`, an entity,
  a TeX command, or a list/quote marker at the start.
- **fragment**: `bot.content.sentence_rules.is_fragment`: a sentence that does not end in terminal
  punctuation (。．！？.!? with optional closing brackets), starts with a particle, auxiliary,
  small kana, long-vowel mark, comma or closing bracket (the tail of a cut sentence), starts
  with an all-lowercase English word, or has unbalanced brackets.
- **title repeat**: `bot.content.sentence_rules.repeats_title` at 0.5: half the title's 3-grams (whole
  title, or without the SEO padding such as "2026年…の全貌と実践的な活用法") appear in one
  sentence, or 60 % of the sentence's 3-grams come from the title. (The summariser filters
  at the stricter 0.35.)
- **leaning** (share of summary *sentences*, not summaries): a sentence that opens with a
  connective or a demonstrative (そして, また, その, この, しかし, さらに, それ, 同社, this, it…) or,
  in Japanese, has no subject: no は or が after its first character (not はず/はじめ, nor the
  conjunction of "…ですが"), nor a も after a non-hiragana character ("Metaも…"). Such a
  sentence needs the one before it, or its heading, to be understood. This file's own
  patterns, not the summariser's.
- **median chars** of the summary text.
- **ROUGE-1/2/L F1**, character level (letters and digits after NFKC and casefolding), against the
  front-matter `description`, only on posts whose description is an abstract
  (`bot.content.abstracts.is_abstract`: under 80 % of its character 5-grams occur in the body's
  opening, the definition `../shared/summary-dev/README.md` gives). Most descriptions are the
  body's opening, which would reward lead-3 for copying rather than summarising.
- **posts/s**: `summarize_all` (all three lengths, as a first /summary request does) over pre-cleaned
  bodies in batches of 500 (the posts repeated to fill a batch) on one pinned core, in CPU time, best
  of several batches; cleaning is timed separately.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.summary_cv import CrossValidation, cross_validate, grid
from bot.content.abstracts import description_text, is_abstract
from bot.content.cleaning import CleanedBody, clean_body
from bot.content.sentence_rules import char_ngrams, content_chars, is_fragment, jaccard, repeats_title
from bot.content.sentences import split_sentences
from bot.content.summarize import (
    STANDARD_MAX_CHARS,
    STANDARD_MIN_CHARS,
    SummaryLength,
    summarize,
    summarize_all,
    summarize_prepared,
)
from bot.content.summary_scoring import Parsed, Weights, parse, score
from bot.services.summary_files import read_post_file

log = logging.getLogger(__name__)

_SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
DEFAULT_POSTS = [_SHARED / "corpus-sample" / "_posts", _SHARED / "summary-dev" / "_posts"]
BATCH = 500
_BENCH_RESIDUE_RE = re.compile(
    r"\*\*|__|`|#|\||</?[A-Za-z][^>]*>|\{[%{]|[%}]\}|---|\]\(|&[A-Za-z]+;|&#\d+;|\\[A-Za-z]|^\s*[-*+>]\s"
)


_BENCH_LEANING_OPENER_RE = re.compile(
    r"^(?:そして|また|その|この|あの|しかし|さらに|それ|これ|あれ|こう|そう|こちら|そこ|ここ|こんな|そんな|"
    r"一方|ただし|ただ|なお|つまり|加えて|だが|でも|ですが|したがって|すると|しかも|ところが|とはいえ|"
    r"同社|同氏|同様|両者|彼ら|彼女|彼は|前述|上記|先述|"
    r"(?:then|this|these|that|those|it|they|however|but|also|such)\b)",
    re.IGNORECASE,
)
# は or が after the sentence's first character: not "はず", "はじめ", nor the "…ですが" of a clause
_BENCH_SUBJECT_RE = re.compile(r"(?<=.)(?:は(?!ず|じめ)|(?<!です)(?<!ます)(?<!だ)が)|(?<=[^\u3040-\u309f])も")
_BENCH_JAPANESE_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def leans_on_context(sentence: str) -> bool:
    """Opens with a connective or demonstrative, or (Japanese) states no subject."""
    if _BENCH_LEANING_OPENER_RE.match(sentence.strip()):
        return True
    return bool(_BENCH_JAPANESE_RE.search(sentence)) and not _BENCH_SUBJECT_RE.search(sentence)


@dataclass
class Post:
    name: str
    title: str
    raw: str
    description: str | None
    body: CleanedBody
    abstract: bool
    tags: tuple[str, ...] = ()


@dataclass
class Result:
    system: str
    summaries: list[list[str]] = field(default_factory=list)


def load_posts(directories: list[Path]) -> tuple[list[Post], float]:
    posts = []
    cleaning = 0.0
    for directory in directories:
        for path in sorted(directory.glob("*.md")):
            title, raw, description, tags = read_post_file(str(path))
            t0 = time.perf_counter()
            body = clean_body(raw, title=title)
            cleaning += time.perf_counter() - t0
            name = f"{directory.parent.name}/{path.name}"
            posts.append(Post(name, title, raw, description, body, is_abstract(description, raw), tags))
    return posts, cleaning


# --------------------------------------------------------------------------- systems


def kiji(post: Post) -> list[str]:
    return list(summarize(post.title, post.body, SummaryLength.STANDARD, subjects=post.tags).sentences)


def _prose(body: CleanedBody) -> str:
    return "\n".join(block.text for section in body.sections for block in section.blocks)


def clean_lead3(post: Post) -> list[str]:
    return split_sentences(_prose(post.body))[:3]


def naive_lead3(post: Post) -> list[str]:
    return split_sentences(post.raw)[:3]


def _sumy_lexrank() -> Callable[[Post], list[str]] | None:
    """sumy's LexRank needs NumPy, which is not a Kiji dependency; without it the row is left out."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return None
    from sumy.nlp.stemmers import Stemmer
    from sumy.nlp.tokenizers import Tokenizer
    from sumy.parsers.plaintext import PlaintextParser
    from sumy.summarizers.lex_rank import LexRankSummarizer

    tokenizer = Tokenizer("japanese")
    summarizer = LexRankSummarizer(Stemmer("japanese"))

    def run(post: Post) -> list[str]:
        text = post.body.text
        if not text.strip():
            return []
        parser = PlaintextParser.from_string(text, tokenizer)
        return [str(s) for s in summarizer(parser.document, 3)]

    return run


# --------------------------------------------------------------------------- measures


def has_duplicate(sentences: list[str]) -> bool:
    grams = [char_ngrams(s) for s in sentences]
    return any(jaccard(a, b) >= 0.8 for i, a in enumerate(grams) for b in grams[i + 1 :])


def has_residue(sentences: list[str]) -> bool:
    return any(_BENCH_RESIDUE_RE.search(s) for s in sentences)


def has_fragment(sentences: list[str]) -> bool:
    return any(is_fragment(s) for s in sentences)


def has_title_repeat(sentences: list[str], title: str) -> bool:
    return any(repeats_title(s, title, 0.5) for s in sentences)


def _f1(overlap: int, a: int, b: int) -> float:
    if not overlap or not a or not b:
        return 0.0
    p, r = overlap / a, overlap / b
    return 2 * p * r / (p + r)


def _ngram_counts(s: str, n: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(len(s) - n + 1):
        g = s[i : i + n]
        counts[g] = counts.get(g, 0) + 1
    return counts


def rouge_n(candidate: str, reference: str, n: int) -> float:
    c, r = _ngram_counts(candidate, n), _ngram_counts(reference, n)
    overlap = sum(min(v, r.get(g, 0)) for g, v in c.items())
    return _f1(overlap, sum(c.values()), sum(r.values()))


def rouge_l(candidate: str, reference: str) -> float:
    if not candidate or not reference:
        return 0.0
    prev = [0] * (len(reference) + 1)
    for ch in candidate:
        cur = [0]
        for j, rh in enumerate(reference):
            cur.append(prev[j] + 1 if ch == rh else max(prev[j + 1], cur[j]))
        prev = cur
    return _f1(prev[-1], len(candidate), len(reference))


def _share(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} ({100 * sum(flags) / max(1, len(flags)):.0f}%)"


def evaluate(posts: list[Post], systems: dict[str, Callable[[Post], list[str]]]) -> list[dict[str, str]]:
    rows = []
    abstracts = [p for p in posts if p.abstract and p.description]
    for name, system in systems.items():
        outputs = [system(p) for p in posts]
        summarised = [(p, s) for p, s in zip(posts, outputs, strict=True) if s]
        lengths = [len("".join(s)) for _, s in summarised]
        r1, r2, rl = [], [], []
        for p in abstracts:
            cand = content_chars("".join(outputs[posts.index(p)]))
            ref = content_chars(description_text(p.description))
            r1.append(rouge_n(cand, ref, 1))
            r2.append(rouge_n(cand, ref, 2))
            rl.append(rouge_l(cand, ref))
        rows.append(
            {
                "system": name,
                "summarised": f"{len(summarised)}/{len(posts)}",
                "duplicate": _share([has_duplicate(s) for _, s in summarised]),
                "residue": _share([has_residue(s) for _, s in summarised]),
                "fragment": _share([has_fragment(s) for _, s in summarised]),
                "title repeat": _share([has_title_repeat(s, p.title) for p, s in summarised]),
                "leaning": _share([leans_on_context(x) for _, s in summarised for x in s]),
                "median chars": f"{statistics.median(lengths):.0f}" if lengths else "-",
                "ROUGE-1": f"{statistics.mean(r1):.3f}" if r1 else "-",
                "ROUGE-2": f"{statistics.mean(r2):.3f}" if r2 else "-",
                "ROUGE-L": f"{statistics.mean(rl):.3f}" if rl else "-",
            }
        )
    return rows


def rouge_l_per_abstract(posts: list[Post], weights: Weights) -> list[float]:
    """Kiji's ROUGE-L against each abstract with `weights`; each post is parsed once for the whole
    grid (`summary_scoring.parse`: what does not depend on the weights) and equal texts scored once."""
    scores = []
    for p in posts:
        if p.name not in _PARSED:
            _PARSED[p.name] = parse(p.title, p.body, p.tags)
        cand = content_chars(summarize_prepared(score(_PARSED[p.name], weights), SummaryLength.STANDARD).text)
        key = (cand, p.name)
        if key not in _ROUGE_CACHE:
            _ROUGE_CACHE[key] = rouge_l(cand, content_chars(description_text(p.description)))
        scores.append(_ROUGE_CACHE[key])
    return scores


_ROUGE_CACHE: dict[tuple[str, str], float] = {}
_PARSED: dict[str, Parsed] = {}


def cross_validated(posts: list[Post]) -> CrossValidation:
    abstracts = [p for p in posts if p.abstract and p.description]
    return cross_validate([p.name for p in abstracts], lambda w: rouge_l_per_abstract(abstracts, w), grid())


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def throughput(posts: list[Post], rounds: int = 3) -> float:
    """Posts per CPU second in batches of `BATCH` posts (the set repeated to fill one), best batch.

    CPU time of this process, not the wall clock: the bench machine's cores are shared, and
    time spent waiting for a core is not time spent summarising.
    """
    batch = [posts[i % len(posts)] for i in range(BATCH)]
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for p in batch:
            summarize_all(p.title, p.body, subjects=p.tags)
        best = min(best, time.process_time() - t0)
    return len(batch) / best


def markdown_table(rows: list[dict[str, str]]) -> str:
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r[h] for h in headers) + " |" for r in rows]
    return "\n".join(lines)


def _weights_text(w: Weights) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in vars(w).items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=Path, action="append", help="a _posts folder (repeatable)")
    parser.add_argument("--show", type=int, default=0, help="print this many Kiji summaries to read")
    parser.add_argument("--tune", action="store_true", help="print the weights chosen on all abstracts and each fold's")
    args = parser.parse_args(argv)
    directories = args.posts or DEFAULT_POSTS
    missing = [str(d) for d in directories if not d.is_dir()]
    if missing:
        print(f"no posts directory at {', '.join(missing)}", file=sys.stderr)
        return 2
    pinned = pin_one_core()
    posts, cleaning = load_posts(directories)
    systems: dict[str, Callable[[Post], list[str]]] = {"kiji": kiji}
    lexrank = _sumy_lexrank()
    if lexrank is None:
        print("sumy-lexrank left out: sumy's LexRank needs NumPy (pip install numpy)", file=sys.stderr)
    else:
        systems["sumy-lexrank"] = lexrank
    systems |= {"clean-lead3": clean_lead3, "naive-lead3": naive_lead3}
    rows = evaluate(posts, systems)
    cv = cross_validated(posts)
    cv_row = dict.fromkeys(rows[0], "-") | {"system": "kiji (5-fold CV)", "ROUGE-L": f"{cv.held_out:.3f}"}
    rows.insert(1, cv_row)
    rate = throughput(posts)
    abstracts = sum(p.abstract for p in posts)
    where = " + ".join(str(d) for d in directories)
    print(f"## Summary quality: {len(posts)} posts in {where} ({abstracts} with an abstract description)\n")
    print(markdown_table(rows))
    kiji_row = rows[0]
    lead_row = next(r for r in rows if r["system"] == "clean-lead3")
    print()
    print(f"- kiji (5-fold CV) per fold: {', '.join(f'{x:.3f}' for x in cv.per_fold)}")
    print(f"- kiji summarize_all: {rate:.0f} posts per CPU second, batches of {BATCH}, {pinned}; target >= 100")
    print(
        f"- cleaning (excluded above): {len(posts) / cleaning:.0f} posts/s, {1000 * cleaning / len(posts):.1f} ms/post"
    )
    if args.tune:
        print(f"- chosen on all abstracts (ROUGE-L {cv.best_overall_score:.3f}): {_weights_text(cv.best_overall)}")
        for k, w in enumerate(cv.chosen):
            print(f"  - fold {k} chose: {_weights_text(w)}")
    median = float(kiji_row["median chars"]) if kiji_row["median chars"] != "-" else 0.0
    checks = {
        "0 duplicates": kiji_row["duplicate"].startswith("0/"),
        "0 residue": kiji_row["residue"].startswith("0/"),
        "0 fragments": kiji_row["fragment"].startswith("0/"),
        "0 title repeats": kiji_row["title repeat"].startswith("0/"),
        "0 % leaning sentences": kiji_row["leaning"].startswith("0/"),
        "median within the standard length": STANDARD_MIN_CHARS <= median <= STANDARD_MAX_CHARS,
        "CV ROUGE-L >= clean lead-3": cv_row["ROUGE-L"] >= lead_row["ROUGE-L"],
        ">= 100 posts/s": rate >= 100,
    }
    print("- targets: " + ", ".join(f"{k}: {'pass' if ok else 'FAIL'}" for k, ok in checks.items()))
    for p in posts[: args.show]:
        print(f"\n### {p.name}\n{p.title}\n> {''.join(kiji(p)) or '(no summary available)'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
