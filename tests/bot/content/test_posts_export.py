"""`kiji posts --json --text` (issue 13, item 3): every post with its cleaned text, for export and outside measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.content.cleaning import clean_body
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site

REPO = Path(__file__).resolve().parents[3]


def kiji(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sample_db(corpus_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("export") / "kiji.sqlite3"
    result = kiji("ingest", "--site", str(corpus_site), "--db", str(db))
    assert result.returncode == 0, result.stderr
    return db


def test_every_post_comes_with_its_cleaned_text(sample_db: Path, corpus_site: Path) -> None:
    result = kiji("posts", "--db", str(sample_db), "--json", "--text")
    assert result.returncode == 0, result.stderr
    exported = {post["path"]: post for post in json.loads(result.stdout)}
    site = load_site(corpus_site)
    files = sorted((corpus_site / "_posts").glob("*.md"))
    assert len(exported) == len(files) == 61
    for file in files:
        parsed = parse_post(file.read_bytes(), f"_posts/{file.name}", site)
        post = exported[parsed.path]
        assert post["title"] == parsed.title
        assert post["text"] == clean_body(parsed.body, parsed.title).text, parsed.path
        assert len(post["text"]) > 500  # a real article, not an empty field


def test_the_text_is_only_there_when_asked_for(sample_db: Path) -> None:
    plain = json.loads(kiji("posts", "--db", str(sample_db), "--json").stdout)
    assert len(plain) == 61 and all("text" not in post for post in plain)
    one = json.loads(kiji("post", str(plain[0]["id"]), "--db", str(sample_db), "--json").stdout)
    listing = kiji("posts", "--db", str(sample_db), "--text").stdout
    assert one["text"] and one["text"] in listing
    assert listing.rstrip().endswith("61 posts")
