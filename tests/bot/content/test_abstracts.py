"""Telling an author's abstract from a description copied from the post's opening (issue 25)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.content.abstracts import author_abstract, is_abstract
from bot.services.summary_files import read_post, summarize_files

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
BODY = (
    "Metaは新しい大規模言語モデルLlama 4を発表した。推論コストを大幅に下げたことが最大の特徴である。"
    "企業はオンプレミスでの導入を検討し始めている。\n\n"
    "Mixture of Expertsの採用により、同じ性能をより少ない計算量で実現した。長い文脈を扱える点も評価されている。"
)
ABSTRACT = "Llama 4の発表を受け、オンプレミス導入の費用対効果と運用上の注意点を解説します。"


def test_a_copy_of_the_opening_is_no_abstract_even_with_its_title_and_ellipsis() -> None:
    assert not is_abstract("Metaは新しい大規模言語モデルLlama 4を発表した。推論コストを...", BODY)
    assert not is_abstract("Llama 4発表 Metaは新しい大規模言語モデルLlama 4を発表した。", BODY, "Llama 4発表")
    assert is_abstract(ABSTRACT, BODY)
    assert not is_abstract(None, BODY) and not is_abstract("AI", BODY)  # too short to have a 5-gram


def test_the_generators_chatter_is_no_authors_summary() -> None:
    chatter = "The article has been generated according to the instructions. I will now check the count."
    assert is_abstract(chatter, BODY) and author_abstract(chatter, BODY) is None
    assert author_abstract(ABSTRACT + "...", BODY) == ABSTRACT


def test_kiji_summarize_json_says_whose_summary_it_returned(tmp_path: Path) -> None:
    written = tmp_path / "2026-01-01-abstract.md"
    written.write_text(f"---\ntitle: Llama 4\ndescription: {ABSTRACT}\n---\n\n{BODY}\n", encoding="utf-8")
    copied = tmp_path / "2026-01-02-copy.md"
    copied.write_text(f"---\ntitle: Llama 4\ndescription: {BODY[:60]}...\n---\n\n{BODY}\n", encoding="utf-8")
    out = io.StringIO()
    assert summarize_files([str(written), str(copied)], "standard", True, out) == 0
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["source"], first["summary"]) == ("author", ABSTRACT)
    assert first["extractive"] == "".join(first["sentences"]) and "推論コスト" in first["extractive"]
    assert second["source"] == "extractive" and second["summary"] == second["extractive"] != ABSTRACT


@pytest.mark.skipif(not (SHARED / "summary-dev").is_dir(), reason="../shared/summary-dev is not available")
def test_the_development_set_has_the_97_abstracts_its_readme_counts() -> None:
    counts = {}
    for folder in ("corpus-sample", "summary-dev"):
        posts = [read_post(str(p)) for p in sorted((SHARED / folder / "_posts").glob("*.md"))]
        counts[folder] = sum(is_abstract(description, body, title) for title, body, description in posts)
    assert counts == {"corpus-sample": 17, "summary-dev": 80}
