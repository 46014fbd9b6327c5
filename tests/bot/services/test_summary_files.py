"""`kiji summarize FILE` reads a post's front matter exactly as ingest does."""

from __future__ import annotations

from pathlib import Path

from bot.services.summary_files import read_post, read_post_file
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site


def test_read_post_agrees_with_ingest_on_bom_and_crlf(tmp_path: Path) -> None:
    data = "\ufeff---\r\ntitle: BOM and CRLF\r\ndescription: 説明\r\ntags: [crlf]\r\n---\r\n\r\nBody.\r\n".encode()
    path = tmp_path / "2024-01-19-bom-crlf.md"
    path.write_bytes(data)
    site = load_site(tmp_path)
    parsed = parse_post(data, "_posts/2024-01-19-bom-crlf.md", site)
    title, body, description = read_post(str(path))
    assert (title, description) == (parsed.title, "説明")
    assert body.strip() == "Body."


def test_read_post_without_front_matter_is_all_body(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("Just text.\n", encoding="utf-8")
    assert read_post(str(path)) == ("", "Just text.\n", None)


def test_read_post_keeps_yaml_scalars_as_ruby_prints_them(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_text("---\ntitle: 2024\n---\nx\n", encoding="utf-8")
    assert read_post(str(path))[0] == "2024"


def test_read_post_file_gives_the_tags_ingest_gives(tmp_path: Path) -> None:
    site = load_site(tmp_path)
    for name, tags_line in (
        ("2024-01-20-listed.md", "tags: [RAG, 画像生成, RAG]"),
        ("2024-01-21-spaced.md", "tags: RAG 画像生成"),
    ):
        data = f"---\ntitle: Tagged\n{tags_line}\n---\nBody.\n".encode()
        path = tmp_path / name
        path.write_bytes(data)
        tags = read_post_file(str(path)).tags
        assert tags == parse_post(data, f"_posts/{name}", site).tags
        assert tags == ("RAG", "画像生成")
