"""`kiji render`: the body Kiji would send for a post, checked against Discord's OpenAPI spec, without sending."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import write_post
from test_cli import kiji

from bot.emulator.validation import load_spec_validator


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("posts")
    write_post(
        folder, "2025-07-01-first.md", "最初の記事 @everyone", "本文です。内容は十分にあります。", tags="[AI, LLM]"
    )
    db = folder.parent / "render.db"
    done = kiji("ingest", "--posts", str(folder), "--db", str(db), env={"KIJI_SITE_URL": "https://blog.example"})
    assert done.returncode == 0, done.stderr
    return db


@pytest.mark.parametrize("layout", ["embed", "card", "text"])
def test_render_prints_a_create_message_body_discord_takes(store: Path, openapi_spec_path: Path, layout: str):
    done = kiji(
        "render", "_posts/2025-07-01-first.md", "--db", str(store), "--layout", layout,
        "--template", "{role} {title} ({date:%Y/%m/%d}) {tags}", "--role", "77", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert load_spec_validator(openapi_spec_path).validate("POST", "/channels/1/messages", body) == []
    assert "最初の記事 @everyone" in done.stdout and "2025/07/01" in done.stdout and "AI, LLM" in done.stdout
    assert body["allowed_mentions"]["parse"] == [] and body["allowed_mentions"]["roles"] == [77]


def test_render_refuses_a_template_it_cannot_use_with_exit_2(store: Path):
    done = kiji("render", "1", "--db", str(store), "--template", "{title.__dict__}", "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert "the template cannot be used: {title.__dict__} is not a placeholder Kiji knows" in done.stderr
    too_long = kiji("render", "1", "--db", str(store), "--layout", "text", "--template", "{title}" * 150)
    assert too_long.returncode == 2 and "Discord takes at most 2000" in too_long.stderr


def test_render_says_when_there_is_no_such_post(store: Path):
    done = kiji("render", "nope.md", "--db", str(store))
    assert done.returncode == 1 and "no post with id or path 'nope.md'" in done.stderr
