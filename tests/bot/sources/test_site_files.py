"""Issue 21, point 3: nothing is read from outside a site, whatever its files are (config as well as posts).

Every file Kiji reads of a site goes through `bot.sources.site_files`: a symlink is followed only
inside the site, only regular files are read, and none over the size cap. Driven through `kiji
ingest` / `kiji sources` as a user meets it, with folder sites and with a real git repository.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from factories import write_post
from git_server import BlogRemotes, GitDaemon
from kiji_cli import files_holding, kiji

from bot.sources.post_error import PostError
from bot.sources.site_files import MAX_SITE_FILE_BYTES, read_site_file, resolved_root

SECRET_TITLE = "Title-Read-From-Outside-7f3a"
SECRET_URL = "https://outside-7f3a.example.org"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "_posts").mkdir(parents=True)
    (root / "_config.yml").write_text("title: Good blog\nurl: https://good.example.org\n", encoding="utf-8")
    write_post(root / "_posts", "2024-01-01-good.md", "Good", "A good post about tea.")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the site holding what must never be read: a config and a post."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "config.yml").write_text(f"title: {SECRET_TITLE}\nurl: {SECRET_URL}\n", encoding="utf-8")
    write_post(folder, "2024-05-05-secret.md", SECRET_TITLE, "The body of a file outside the site.")
    return folder


def _symlink_out(config: Path, outside: Path) -> None:
    config.symlink_to(outside / "config.yml")


def _sparse(config: Path, outside: Path) -> None:
    with open(config, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: costs no disk, and must cost no memory either


def _pipe(config: Path, outside: Path) -> None:
    os.mkfifo(config)


def _dangling(config: Path, outside: Path) -> None:
    config.symlink_to(outside / "gone.yml")


def _folder(config: Path, outside: Path) -> None:
    config.mkdir()


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        pytest.param(_symlink_out, "outside the site", id="symlink-out"),
        pytest.param(_sparse, f"file too large: {64 * 1024 * 1024} bytes (limit {MAX_SITE_FILE_BYTES}", id="sparse"),
        pytest.param(_pipe, "a named pipe (FIFO), not a regular file", id="fifo"),
        pytest.param(_dangling, "a symlink to nothing readable", id="dangling"),
        pytest.param(_folder, "a folder, not a regular file", id="folder"),
    ],
)
def test_a_config_kiji_must_not_read_is_refused_by_name(
    site: Path, outside: Path, tmp_path: Path, make: Callable[[Path, Path], None], complaint: str
) -> None:
    db = tmp_path / "store" / "k.db"
    db.parent.mkdir()
    assert kiji("ingest", "--source", str(site), "--db", str(db)).returncode == 0
    config = site / "_config.yml"
    config.unlink()
    make(config, outside)

    result = kiji("ingest", "--source", str(site), "--db", str(db), "--json")
    assert result.returncode == 2, result.stderr
    [outcome] = json.loads(result.stdout)["sources"]
    assert f"{config}: " in outcome["error"] and complaint in outcome["error"]
    listed = kiji("sources", "--source", str(site), "--db", str(db), "--json")
    [entry] = json.loads(listed.stdout)
    # the blog keeps its posts and what was last read right; /about says why it is not read now
    assert (entry["title"], entry["url"], entry["posts"]) == ("Good blog", "https://good.example.org", 1)
    assert complaint in entry["last_error"]
    for text in (result.stdout, result.stderr, listed.stdout, listed.stderr):
        assert SECRET_TITLE not in text and SECRET_URL not in text
    assert files_holding(db.parent, SECRET_TITLE.encode()) == []


def test_a_config_symlinked_inside_the_site_is_read(site: Path, tmp_path: Path) -> None:
    (site / "settings").mkdir()
    (site / "settings" / "site.yml").write_text("title: Linked inside\n", encoding="utf-8")
    (site / "_config.yml").unlink()
    (site / "_config.yml").symlink_to(Path("settings") / "site.yml")
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--source", str(site), "--db", db).returncode == 0
    [entry] = json.loads(kiji("sources", "--source", str(site), "--db", db, "--json").stdout)
    assert (entry["title"], entry["posts"], entry["last_error"]) == ("Linked inside", 1, None)


def test_a_post_reached_through_a_symlinked_folder_is_not_read(site: Path, outside: Path) -> None:
    """The one reader checks where the opened file really is, not only the last part of its path."""
    (site / "_posts" / "elsewhere").symlink_to(outside)
    with pytest.raises(PostError, match="outside the site") as refused:
        read_site_file(
            resolved_root(site), site / "_posts" / "elsewhere" / "2024-05-05-secret.md", "_posts/elsewhere/x.md"
        )
    assert refused.value.path == "_posts/elsewhere/x.md"


def test_a_repository_cannot_make_kiji_read_outside_its_checkout(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, outside: Path, tmp_path: Path
) -> None:
    """A repository's symlinks are checked out as symlinks: posts and `_config.yml` alike stay inside."""
    remote = blog_remotes.empty()
    remote.write("_config.yml", "title: Repository blog\n")
    remote.write("_posts/2024-01-01-hello.md", "---\ntitle: Hello\n---\nHello.\n")
    remote.commit("A blog")
    store = tmp_path / "store"
    env = {"KIJI_DATA_DIR": str(tmp_path / "data"), "KIJI_DB_PATH": str(store / "k.db")}
    spec = f"git+{git_daemon.url(remote)}"
    first = kiji("ingest", "--source", spec, "--json", env=env)
    assert first.returncode == 0, first.stderr

    # a new post that is a link out of the checkout: read on the "what changed" path, not the walk
    remote.symlink("_posts/2024-05-05-secret.md", str(outside / "2024-05-05-secret.md"))
    remote.commit("A post from elsewhere")
    second = kiji("ingest", "--source", spec, "--json", env=env)
    [outcome] = json.loads(second.stdout)["sources"]
    assert outcome["report"]["added"] == 0, second.stdout
    [failed] = outcome["report"]["failed"]
    assert failed["path"] == "_posts/2024-05-05-secret.md" and "outside the site" in failed["error"]

    # then `_config.yml` itself becomes a link out of the checkout
    remote.symlink("_config.yml", str(outside / "config.yml"))
    remote.commit("Configuration from elsewhere")
    third = kiji("ingest", "--source", spec, "--json", env=env)
    assert third.returncode == 2
    [outcome] = json.loads(third.stdout)["sources"]
    assert "_config.yml: a symlink to" in outcome["error"] and "outside the site" in outcome["error"]

    listed = kiji("sources", "--source", spec, "--json", env=env)
    [entry] = json.loads(listed.stdout)
    assert (entry["title"], entry["posts"]) == ("Repository blog", 1)
    assert "outside the site" in entry["last_error"]
    for result in (first, second, third, listed):
        assert SECRET_TITLE not in result.stdout + result.stderr and SECRET_URL not in result.stdout + result.stderr
    assert files_holding(store, SECRET_TITLE.encode()) == []
    assert files_holding(store, b"The body of a file outside the site") == []
