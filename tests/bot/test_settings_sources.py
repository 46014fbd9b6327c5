"""Which sources the settings name: KIJI_SOURCES, the one-folder shorthands, and where data is kept."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

from bot.settings import EXAMPLE_POSTS, Settings

REPO = Path(__file__).resolve().parents[2]


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv_path=None)


def test_without_any_source_the_example_folder_is_served() -> None:
    assert settings().source_specs == (str(EXAMPLE_POSTS),) and not settings().sources_named
    assert settings().data_dir == Path("data")  # beside the default database


def test_the_example_folder_named_in_an_older_env_file_is_still_the_stand_in() -> None:
    old = settings(KIJI_POSTS_DIR="examples/posts")
    assert old.source_specs == (str(EXAMPLE_POSTS),) and not old.sources_named
    beside = settings(KIJI_POSTS_DIR="examples/posts", KIJI_SOURCES="/srv/blog")
    assert beside.source_specs == ("/srv/blog",)  # never added to the blogs the user named


def test_the_data_folder_is_beside_the_database_unless_configured(tmp_path: Path) -> None:
    assert settings(KIJI_DB_PATH=str(tmp_path / "store" / "k.db")).data_dir == tmp_path / "store"


def test_the_shorthands_name_one_local_source() -> None:
    assert settings(KIJI_POSTS_DIR="/srv/posts").source_specs == ("/srv/posts",)
    assert settings(KIJI_POSTS_DIR="/srv/posts", KIJI_SITE_DIR="/srv/site").source_specs == ("/srv/site",)


def test_kiji_sources_splits_on_any_whitespace_and_keeps_the_order() -> None:
    found = settings(KIJI_SOURCES=" /srv/a\n\tgit+https://git.example.org/b.git@main   /srv/c ")
    assert found.source_specs == ("/srv/a", "git+https://git.example.org/b.git@main", "/srv/c")


def test_a_shorthand_beside_kiji_sources_is_one_more_source() -> None:
    found = settings(KIJI_SOURCES="git+https://git.example.org/b.git", KIJI_SITE_DIR="/srv/site")
    assert found.source_specs == ("git+https://git.example.org/b.git", "/srv/site")


def test_the_data_folder_is_configurable(tmp_path: Path) -> None:
    assert settings(KIJI_DATA_DIR=str(tmp_path / "kept")).data_dir == tmp_path / "kept"


def test_the_site_url_fills_in_only_for_a_single_source(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = settings(KIJI_POSTS_DIR=str(tmp_path / "a"), KIJI_SITE_URL="https://blog.example.org/")
    assert one.load_site(tmp_path / "a").url == "https://blog.example.org"
    several = settings(KIJI_SOURCES=f"{tmp_path / 'a'} {tmp_path / 'b'}", KIJI_SITE_URL="https://blog.example.org")
    assert several.load_site(tmp_path / "a").url != "https://blog.example.org"


# Names in the code's strings that are not settings: what Kiji hands git for credentials.
NOT_SETTINGS = {"KIJI_GIT_USERNAME", "KIJI_GIT_PASSWORD"}


def _names_in_strings(path: Path) -> set[str]:
    with path.open("rb") as source:
        strings = [token.string for token in tokenize.tokenize(source.readline) if token.type == tokenize.STRING]
    return {name for text in strings for name in re.findall(r"\b(?:KIJI|DISCORD)_[A-Z0-9_]+\b", text)}


def test_every_setting_the_code_reads_is_explained_in_env_example() -> None:
    """The README says every setting is explained in `.env.example`: a setting added to the code
    (read by its name, or named in a message) without a line there fails here."""
    code = sorted(path for folder in ("bot", "cogs") for path in (REPO / folder).rglob("*.py"))
    read = set().union(*(_names_in_strings(path) for path in code)) - NOT_SETTINGS
    assert {"DISCORD_TOKEN", "KIJI_DB_PATH", "KIJI_WEBHOOK_SECRET"} <= read  # the scan finds settings at all
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    explained = set(re.findall(r"^((?:KIJI|DISCORD)_[A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert sorted(read - explained) == []
