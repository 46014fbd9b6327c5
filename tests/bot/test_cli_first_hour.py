"""A newcomer's first hour with a fresh clone (issue 21): what `kiji` does with typos, a store of its
own, git checkouts, `.env` files and the words it prints, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from factories import write_post
from git_server import git

REPO = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"  # base64 of 123456789012345678


def kiji(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def files_under(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


@pytest.fixture
def blog(tmp_path: Path) -> Path:
    site = tmp_path / "blog"
    (site / "_posts").mkdir(parents=True)
    (site / "_config.yml").write_text("title: My blog\nurl: https://blog.example.org\n", encoding="utf-8")
    write_post(site / "_posts", "2025-03-01-first.md", "My first post", "Something worth reading.")
    return site


@pytest.fixture
def git_blog(tmp_path: Path) -> str:
    """A git repository holding a small site, as a `git+file://` SPEC."""
    work = tmp_path / "repo"
    (work / "_posts").mkdir(parents=True)
    (work / "_config.yml").write_text("title: Git blog\n", encoding="utf-8")
    write_post(work / "_posts", "2025-04-01-pushed.md", "A pushed post", "It came through git.")
    git("init", "--quiet", "--initial-branch=main", str(work))
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "A blog", cwd=work)
    return f"git+{work.as_uri()}"


# --- 11: a failed ingest leaves no database behind ------------------------------------------------


def test_an_ingest_of_a_missing_folder_creates_no_database(tmp_path: Path) -> None:
    db = tmp_path / "new" / "k.db"
    result = kiji("ingest", "--posts", str(tmp_path / "typo"), "--db", str(db))
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not db.parent.exists(), files_under(tmp_path)
    later = kiji("search", "anything", "--db", str(db))  # the typo is still caught, not "0 results"
    assert later.returncode == 2 and "no database" in later.stderr


def test_an_unreachable_git_source_leaves_nothing_behind(tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.mkdir()
    db = tmp_path / "store" / "k.db"
    result = kiji("ingest", "--source", f"git+{(tmp_path / 'nowhere.git').as_uri()}", "--db", str(db), cwd=here)
    assert result.returncode == 2 and "nowhere.git" in result.stderr
    assert files_under(here) == [] and not db.parent.exists(), files_under(tmp_path)
    assert "retrying" not in result.stderr, result.stderr  # nothing retries in a one-shot ingest


def test_a_failed_ingest_keeps_an_existing_database(blog: Path, tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    assert kiji("ingest", "--site", str(blog), "--db", str(db)).returncode == 0
    assert kiji("ingest", "--site", str(tmp_path / "typo"), "--db", str(db)).returncode == 2
    posts = json.loads(kiji("posts", "--db", str(db), "--json").stdout)
    assert [post["title"] for post in posts] == ["My first post"]


# --- 12: with no source configured, a store serves the blogs it records ---------------------------


@pytest.mark.parametrize("example_setting", [{}, {"KIJI_POSTS_DIR": "examples/posts"}], ids=["unset", "old-env"])
def test_a_store_serves_the_blogs_it_records(blog: Path, tmp_path: Path, example_setting: dict[str, str]) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(blog), "--db", db, env=example_setting).returncode == 0
    listed = kiji("sources", "--db", db, env=example_setting)
    assert listed.returncode == 0, listed.stderr
    assert str(blog) in listed.stdout and "no longer configured" not in listed.stdout, listed.stdout
    assert "examples/posts" not in listed.stdout and "never read" not in listed.stdout, listed.stdout
    write_post(blog / "_posts", "2025-03-02-second.md", "My second post", "Written after the first ingest.")
    again = kiji("ingest", "--db", db, env=example_setting)
    assert again.returncode == 0, again.stderr
    titles = sorted(post["title"] for post in json.loads(kiji("posts", "--db", db, "--json").stdout))
    assert titles == ["My first post", "My second post"]  # and never the example blog's post


def test_a_new_store_with_nothing_configured_serves_the_example(tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--db", db).returncode == 0
    titles = [post["title"] for post in json.loads(kiji("posts", "--db", db, "--json").stdout)]
    assert len(titles) == 1 and kiji("ingest", "--db", db).returncode == 0


# --- 13: git checkouts live beside the database ---------------------------------------------------


def test_git_checkouts_are_kept_beside_the_database(git_blog: str, tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.mkdir()
    db = tmp_path / "store" / "k.db"
    result = kiji("ingest", "--source", git_blog, "--db", str(db), cwd=here)
    assert result.returncode == 0, result.stderr
    assert files_under(here) == []
    checkouts = [path for path in (db.parent / "git").iterdir()]
    assert len(checkouts) == 1 and (checkouts[0] / "_posts" / "2025-04-01-pushed.md").is_file()


# --- 14: which .env is read, and saying where it looked -------------------------------------------


def test_without_a_token_kiji_says_where_it_looked(tmp_path: Path) -> None:
    result = kiji("run", env={"KIJI_DB_PATH": str(tmp_path / "k.db")}, cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN is not set" in result.stderr and str(tmp_path / ".env") in result.stderr, result.stderr
    assert "--env-file" in result.stderr


def test_an_env_file_is_read_from_where_it_is_given(blog: Path, tmp_path: Path) -> None:
    setup = tmp_path / "setup"
    setup.mkdir()
    env_file = setup / ".env"
    env_file.write_text(f"DISCORD_TOKEN={TOKEN}\nKIJI_SITE_DIR={blog}\nKIJI_DB_PATH=data/k.db\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    invite = kiji("invite", "--env-file", str(env_file), cwd=elsewhere)
    assert invite.returncode == 0, invite.stderr
    assert "client_id=123456789012345678" in invite.stdout
    ingest = kiji("--env-file", str(env_file), "ingest", cwd=elsewhere)
    assert ingest.returncode == 0, ingest.stderr
    assert (setup / "data" / "k.db").is_file()  # a relative path in the file is relative to the file
    assert files_under(elsewhere) == []


def test_an_env_file_that_is_not_there_is_named(tmp_path: Path) -> None:
    result = kiji("posts", "--env-file", str(tmp_path / "missing.env"), cwd=tmp_path)
    assert result.returncode == 2
    assert f"the settings file {tmp_path / 'missing.env'} does not exist" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# --- 17: the words ------------------------------------------------------------------------------


def test_a_missing_site_folder_is_called_the_site_folder(tmp_path: Path) -> None:
    result = kiji("ingest", "--site", str(tmp_path / "typo"), "--db", str(tmp_path / "k.db"))
    assert result.returncode == 2
    assert f"the site folder {tmp_path / 'typo'} does not exist" in result.stderr, result.stderr
    posts = kiji("ingest", "--posts", str(tmp_path / "typo"), "--db", str(tmp_path / "k.db"))
    assert f"the posts folder {tmp_path / 'typo'} does not exist" in posts.stderr, posts.stderr


def imported_by(*args: str, cwd: Path = REPO) -> set[str]:
    """The modules `kiji ARGS` imports, from `python -X importtime` (its own list, not a timing)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot.cli", *args], cwd=cwd, env=environment,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


def test_help_imports_no_store_parser_or_discord() -> None:
    loaded = imported_by("--help")
    assert "argparse" in loaded  # the list is read at all
    heavy = {"asyncio", "aiosqlite", "yaml", "discord", "bot.store", "bot.settings", "bot.content.cleaning"}
    assert sorted(loaded & heavy) == []


def test_a_no_op_ingest_imports_no_post_parser(blog: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(blog), "--db", db).returncode == 0
    loaded = imported_by("ingest", "--site", str(blog), "--db", db)
    assert "bot.store" in loaded
    parsing = {"bot.content.cleaning", "bot.sources.post_reader", "bot.sources.git", "discord", "rapidfuzz"}
    assert sorted(loaded & parsing) == []


def test_the_render_layouts_listed_without_discord_are_the_announcers() -> None:
    from bot.cli_args import RENDER_LAYOUTS
    from bot.discord.announcement import LAYOUTS

    assert RENDER_LAYOUTS == LAYOUTS
