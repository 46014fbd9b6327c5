"""Test data builders shared by the store, delivery and bot tests."""

from __future__ import annotations

import json
from pathlib import Path

from bot.content import search_tokens
from bot.models import FileState, PostRecord

NOW = 1_800_000_000.0  # a fixed "now" so visibility does not depend on the wall clock


def record(
    path: str,
    title: str,
    body: str,
    *,
    tags: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    date_utc: float = NOW - 86_400,
) -> PostRecord:
    return PostRecord(
        path=path,
        jekyll_id="/" + path,
        url="/" + path,
        abs_url="https://example.org/" + path,
        slug=path,
        title=title,
        date_utc=date_utc,
        date_iso="2027-01-15T08:00:00+09:00",
        tags=tags,
        categories=categories,
        author="Someone",
        excerpt=None,
        description=None,
        reading_time=3,
        text=body,
        title_tokens=search_tokens.index_tokens(title),
        body_tokens=search_tokens.index_tokens(body),
        file=FileState(len(body), 1, f"hash-{path}-{len(body)}"),
    )


def write_post(folder: Path, name: str, title: str, body: str, **front: str) -> Path:
    """A Markdown post file with simple front matter (values written as YAML as given)."""
    lines = [f"title: {json.dumps(title, ensure_ascii=False)}", *(f"{k}: {v}" for k, v in front.items())]
    path = folder / name
    path.write_text("---\n" + "\n".join(lines) + "\n---\n\n" + body + "\n", encoding="utf-8")
    return path


JA_BODY = (
    "Metaは新しい大規模言語モデルLlama 4を発表した。推論コストを大幅に下げたことが最大の特徴である。"
    "企業はオンプレミスでの導入を検討し始めている。\n\n"
    "## 技術的な特徴\n\n"
    "Mixture of Expertsの採用により、同じ性能をより少ない計算量で実現した。"
    "長い文脈を扱える点も評価されている。\n"
)
EN_BODY = (
    "Retrieval-augmented generation (RAG) gives a language model access to documents it was not trained on. "
    "Teams use it to answer questions about internal knowledge bases.\n\n"
    "## Costs\n\nThe main costs are embedding the documents and storing the vectors.\n"
)


def make_blog(folder: Path, tagged_ai: int = 23) -> Path:
    """A small blog for end-to-end tests: Japanese and English posts, many tagged AI, awkward titles."""
    folder.mkdir(parents=True, exist_ok=True)
    write_post(folder, "2025-06-01-llama4.md", "MetaのLlama 4発表", JA_BODY, tags="[AI, LLM, Meta]", author="編集部")
    write_post(folder, "2025-06-02-rag.md", "What RAG is for", EN_BODY, tags="[RAG, LLM]", categories="[Guides]")
    write_post(folder, "2025-06-03-everyone.md", "@everyone 緊急のお知らせ <@123>", JA_BODY, tags="[Meta]")
    write_post(folder, "2025-06-04-long.md", "長いタイトル" * 60, JA_BODY, tags="[AI]")
    for i in range(tagged_ai):
        write_post(
            folder,
            f"2025-05-{1 + i % 28:02d}-ai-{i:02d}.md",
            f"AIニュース第{i}号",
            f"第{i}号の本文。生成AIの話題を取り上げる。\n",
            tags="[AI]",
            description=json.dumps(f"第{i}号：生成AIの動向まとめ", ensure_ascii=False),
        )
    return folder
