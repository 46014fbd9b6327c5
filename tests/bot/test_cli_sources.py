"""`kiji ingest` / `kiji run` with several sources, run as a user runs them (a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from factories import write_post

REPO = Path(__file__).resolve().parents[2]


def kiji(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def two_blogs(tmp_path: Path) -> tuple[Path, Path]:
    first = tmp_path / "first"
    (first / "_posts").mkdir(parents=True)
    (first / "_config.yml").write_text("title: First blog\nurl: https://first.example.org\n", encoding="utf-8")
    write_post(first / "_posts", "2025-01-01-hello.md", "Hello from the first", "The first blog's body.")
    second = tmp_path / "second"
    second.mkdir()
    write_post(second, "2025-01-02-notes.md", "Notes from the second", "The second blog's body.")
    return first, second


def test_every_source_given_is_ingested(two_blogs: tuple[Path, Path], tmp_path: Path) -> None:
    first, second = two_blogs
    db = str(tmp_path / "k.db")
    result = kiji("ingest", "--source", str(first), "--source", str(second), "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == 2
    assert [(s["display"], s["report"]["added"], s["error"]) for s in report["sources"]] == [
        (str(first), 1, None),
        (str(second), 1, None),
    ]
    titles = {p["title"] for p in json.loads(kiji("posts", "--db", db, "--json").stdout)}
    assert titles == {"Hello from the first", "Notes from the second"}


def test_kiji_sources_in_the_environment_is_read(two_blogs: tuple[Path, Path], tmp_path: Path) -> None:
    first, second = two_blogs
    env = {"KIJI_SOURCES": f"{first}\n{second}", "KIJI_DB_PATH": str(tmp_path / "k.db")}
    result = kiji("ingest", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{first}: 1 added") and lines[1].startswith(f"{second}: 1 added")


def test_a_failing_source_never_stops_the_others(two_blogs: tuple[Path, Path], tmp_path: Path) -> None:
    first, second = two_blogs
    missing = tmp_path / "unmounted"
    broken = tmp_path / "broken"
    (broken / "_posts").mkdir(parents=True)
    (broken / "_config.yml").write_text("title: [unclosed\n", encoding="utf-8")
    db = str(tmp_path / "k.db")
    args = ["ingest", "--db", db, "--json"]
    for source in (missing, first, broken, second):
        args += ["--source", str(source)]
    result = kiji(*args)
    assert result.returncode == 2
    errors = {s["display"]: s["error"] for s in json.loads(result.stdout)["sources"]}
    assert "does not exist" in errors[str(missing)]
    assert "_config.yml" in errors[str(broken)]
    assert errors[str(first)] is None and errors[str(second)] is None
    assert f"{missing}: the folder" in result.stderr and "the other sources were ingested" in result.stderr
    titles = {p["title"] for p in json.loads(kiji("posts", "--db", db, "--json").stdout)}
    assert titles == {"Hello from the first", "Notes from the second"}


def test_run_takes_the_folder_flags_its_errors_suggest(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.shaped-like-a-token",
        "KIJI_DB_PATH": str(tmp_path / "k.db"),
    }
    result = kiji("run", "--posts", str(tmp_path / "nope"), env=env)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "--posts" in result.stderr
    result = kiji("run", "--source", str(tmp_path / "nope"), "--site", str(tmp_path / "also-nope"), env=env)
    assert result.returncode == 2 and str(tmp_path / "nope") in result.stderr


def test_sources_lists_each_blogs_posts_last_update_and_last_error(
    two_blogs: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = two_blogs
    db = str(tmp_path / "k.db")
    env = {"KIJI_SOURCES": f"{first} {second}", "KIJI_DB_PATH": db}
    assert kiji("ingest", env=env).returncode == 0
    shutil.move(second, tmp_path / "away")  # the second blog's folder is gone at the next ingest
    assert kiji("ingest", env=env).returncode == 2
    listed = json.loads(kiji("sources", "--json", env=env).stdout)
    by_display = {entry["display"]: entry for entry in listed}
    good, gone = by_display[str(first)], by_display[str(second)]
    assert (good["title"], good["url"], good["posts"], good["last_error"]) == (
        "First blog", "https://first.example.org", 1, None,
    )  # fmt: skip
    assert gone["posts"] == 1 and "does not exist" in gone["last_error"]  # its posts are kept
    assert gone["last_success_at"] < gone["last_error_at"] and good["configured"] and gone["configured"]
    text = kiji("sources", env=env).stdout
    assert "First blog" in text and "1 post," in text and "last error" in text
    # a blog no longer configured is still listed, and says so
    alone = kiji("sources", "--json", "--source", str(first), "--db", db)
    assert [entry["configured"] for entry in json.loads(alone.stdout)] == [True, False]
