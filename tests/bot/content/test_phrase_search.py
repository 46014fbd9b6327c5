"""Phrase search (issue 13, item 4), driven through `kiji search` on the real sample.

What a hit should be is decided independently of the index: a plain substring scan of each
post's title and cleaned text, NFKC-normalised and casefolded with `unicodedata` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from bot.content.cleaning import clean_body
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site

REPO = Path(__file__).resolve().parents[3]
PHRASES = ("生成AI", "GPT-5", "Llama4", "AIエージェント")


def kiji(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _contains(text: str, needle: str) -> bool:
    """`needle` occurs in `text`; a needle starting with a Latin letter or digit must start a word there.

    ("ai" is not found in "OpenAI", as "rag" is not in "storage".)
    """
    at = text.find(needle)
    while at >= 0:
        before = text[at - 1] if at else " "
        if not (needle[0].isascii() and needle[0].isalnum() and before.isascii() and before.isalnum()):
            return True
        at = text.find(needle, at + 1)
    return False


@pytest.fixture(scope="module")
def sample(corpus_site: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(a store with the sample ingested by `kiji ingest`, each post's folded title + cleaned text by path)."""
    db = tmp_path_factory.mktemp("phrase") / "kiji.sqlite3"
    result = kiji("ingest", "--site", str(corpus_site), "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    site = load_site(corpus_site)
    texts = {}
    for file in sorted((corpus_site / "_posts").glob("*.md")):
        parsed = parse_post(file.read_bytes(), f"_posts/{file.name}", site)
        texts[parsed.path] = _folded(parsed.title + "\n" + clean_body(parsed.body, parsed.title).search_text)
    return db, texts


def _search(db: Path, query: str) -> list[str]:
    result = kiji("search", query, "--db", str(db), "--json", "--limit", "1000")
    assert result.returncode == 0, result.stderr
    return [hit["path"] for hit in json.loads(result.stdout)]


@pytest.mark.parametrize("query", PHRASES)
def test_a_query_without_spaces_finds_exactly_the_posts_containing_it(
    sample: tuple[Path, dict[str, str]], query: str
) -> None:
    db, texts = sample
    needle = _folded(query)
    expected = {path for path, text in texts.items() if _contains(text, needle)}
    hits = _search(db, query)
    # the sample writes "Llama 4" (found by that query, below), never "Llama4"
    assert bool(expected) == (query != "Llama4"), query
    assert len(hits) == len(set(hits))
    assert [path for path in hits if not _contains(texts[path], needle)] == []  # precision 1.0
    assert expected - set(hits) == set()  # recall 1.0


def test_the_phrase_is_not_its_words_anywhere(sample: tuple[Path, dict[str, str]]) -> None:
    """Posts with 生成 and AI apart but never 生成AI exist in the sample, and are not found by 生成AI."""
    db, texts = sample
    apart = {p for p, t in texts.items() if "生成" in t and "ai" in t and "生成ai" not in t}
    assert apart
    assert apart & set(_search(db, "生成AI")) == set()
    assert apart <= set(_search(db, "生成 AI"))  # space-separated words stay an AND


def test_llama_4_is_found_by_its_words(sample: tuple[Path, dict[str, str]]) -> None:
    db, texts = sample
    hits = _search(db, "Llama 4")
    assert hits and all(_contains(texts[path], "llama") for path in hits)


def test_width_and_case_do_not_matter(sample: tuple[Path, dict[str, str]]) -> None:
    db, _ = sample
    assert _search(db, "ＧＰＴ－５") == _search(db, "gpt-5") == _search(db, "GPT-5")


def test_posts_with_the_words_as_a_phrase_rank_first(sample: tuple[Path, dict[str, str]]) -> None:
    db, texts = sample
    hits = _search(db, "生成 AI")
    as_phrase = [_contains(texts[path], "生成ai") or _contains(texts[path], "生成 ai") for path in hits]
    assert True in as_phrase and False in as_phrase
    assert as_phrase == sorted(as_phrase, reverse=True)
