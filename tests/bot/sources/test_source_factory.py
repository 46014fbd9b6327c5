"""The factory the CLI and the bot use to turn SPECs into sources."""

from __future__ import annotations

from pathlib import Path

from bot.sources.factory import source_from_spec
from bot.sources.folder import FolderSource
from bot.sources.git import GitSource
from bot.sources.specs import parse_spec


def test_each_spec_gets_its_kind_of_source(tmp_path: Path) -> None:
    git = source_from_spec(parse_spec("git+https://bot:t0ken@example.org/blog.git#subdirectory=site"), tmp_path)
    assert isinstance(git, GitSource)
    assert (git.name, git.display) == ("example.org/blog#site", "git+https://example.org/blog.git#subdirectory=site")
    assert git.site_root.parent.parent == tmp_path / "git" and git.site_root.name == "site"
    assert "t0ken" not in str(git.site_root)
    folder = source_from_spec(parse_spec(str(tmp_path)), tmp_path / "data")
    assert isinstance(folder, FolderSource) and folder.site_root == tmp_path and folder.name == tmp_path.as_posix()
