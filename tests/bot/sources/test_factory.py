"""A SPEC becomes the Source that reads it: folders, git repositories, and a clear no for feeds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bot.sources.factory import source_from_spec, sources_from_specs
from bot.sources.folder import FolderSource
from bot.sources.specs import SpecError
from bot.sources.web import WebSource


def test_a_site_root_and_a_plain_folder_are_folder_sources(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "_posts").mkdir(parents=True)
    (site / "_config.yml").write_text("title: Blog\n", encoding="utf-8")
    plain = tmp_path / "notes"
    plain.mkdir()
    for folder in (site, plain):
        source = source_from_spec(str(folder), tmp_path / "data")
        assert isinstance(source, FolderSource)
        assert source.site_root == folder
        assert source.name == folder.resolve().as_posix()  # the store's key: where it is, not how it was typed


def test_the_same_folder_written_two_ways_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "blog").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="listed twice"):
        sources_from_specs(["blog", str(tmp_path / "blog")], tmp_path / "data")


def test_no_source_at_all_says_how_to_configure_one(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="KIJI_SOURCES"):
        sources_from_specs([], tmp_path)


def test_a_web_address_is_a_web_source(tmp_path: Path) -> None:
    source = source_from_spec("https://blog.example.org/feed.xml", tmp_path)
    assert isinstance(source, WebSource)
    assert source.name == "https://blog.example.org/feed.xml"


def test_a_git_spec_is_a_git_source_or_says_what_is_missing(tmp_path: Path) -> None:
    spec = "git+https://user:s3cret@git.example.org/owner/blog.git@main#subdirectory=site"
    if importlib.util.find_spec("bot.sources.git") is None:
        with pytest.raises(SpecError, match=r"git sources need bot\.sources\.git") as raised:
            source_from_spec(spec, tmp_path)
        assert "s3cret" not in str(raised.value)
    else:
        source = source_from_spec(spec, tmp_path)
        assert type(source).__name__ == "GitSource"
        assert "s3cret" not in source.name and "s3cret" not in source.display
