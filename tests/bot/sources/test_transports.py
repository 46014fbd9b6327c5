"""Issue 21, point 5: only the transports Kiji knows, whatever the user's own git config allows.

git's `transport::address` form hands the address to a remote helper; `ext::` runs it as a
command. A user's `protocol.allow=always` (or `protocol.ext.allow`) lets git do that, so the SPEC
parser refuses the form and git runs with an explicit allow-list (GIT_ALLOW_PROTOCOL).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from git_server import GIT
from kiji_cli import kiji

from bot.sources.base import SourceError
from bot.sources.git import GitSource
from bot.sources.specs import GitSpec, SpecError, parse_spec


def permissive_git(tmp_path: Path) -> dict[str, str]:
    """The environment of a user whose global git config allows every protocol, ext:: included."""
    if GIT is None:
        pytest.skip("git is not installed")
    home = tmp_path / "home"
    home.mkdir()
    config = home / ".gitconfig"
    config.write_text("[protocol]\n\tallow = always\n", encoding="utf-8")
    return {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(config), "XDG_CONFIG_HOME": str(home / ".config")}


def ext_command(marker: Path) -> str:
    """An ext:: address whose command creates `marker` (in ext::, "% " is a space inside an argument)."""
    return f"ext::sh -c touch% {marker}"


def test_the_users_git_really_would_run_ext(tmp_path: Path) -> None:
    """The setting the tests below defend against is real: without Kiji's environment, git runs the command."""
    proof = tmp_path / "proof"
    env = {**os.environ, **permissive_git(tmp_path)}
    env.pop("GIT_ALLOW_PROTOCOL", None)
    subprocess.run([GIT or "git", "ls-remote", ext_command(proof)], env=env, capture_output=True, timeout=60)
    assert proof.exists()


@pytest.mark.parametrize(
    "address",
    ["ext::sh -c touch% /tmp/kiji-marker", "fd::3", "fd::3,4/path", "ext::git-daemon", "myhelper::https://h/r"],
)
def test_every_transport_address_is_refused_by_the_parser(address: str) -> None:
    with pytest.raises(SpecError, match="transport::address form") as refused:
        parse_spec(f"git+{address}")
    assert "https, http, ssh, git and file" in str(refused.value)


def test_kiji_ingest_refuses_ext_even_where_the_users_git_allows_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    env = {**permissive_git(tmp_path), "KIJI_DATA_DIR": str(tmp_path / "data"), "KIJI_DB_PATH": str(tmp_path / "k.db")}
    result = kiji("ingest", "--source", f"git+{ext_command(marker)}", env=env)
    assert not marker.exists()
    assert result.returncode == 2
    assert "transport::address form" in result.stderr


async def test_git_itself_refuses_ext_whatever_the_users_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second wall: handed an ext:: address anyway, git refuses it under Kiji's environment."""
    for name, value in permissive_git(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GIT_ALLOW_PROTOCOL", raising=False)
    marker = tmp_path / "marker"
    source = GitSource(GitSpec(url=ext_command(marker)), tmp_path / "data")
    with pytest.raises(SourceError) as refused:
        await source.poll(None)
    assert not marker.exists()
    assert "transport 'ext' not allowed" in str(refused.value)
