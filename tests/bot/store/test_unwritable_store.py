"""A store this process cannot write: a clear message naming the cause, and the reading commands still work.

Issue 14 item 12: a database file of mode 444 owned by another user gave a raw OperationalError
traceback, and on a read-only mount even `kiji posts` failed, blaming the wrong cause. Both are
run here for real: `kiji` as the unprivileged user `nobody` (`setpriv`), and inside a mount
namespace where the store's folder is bind-mounted read-only (`unshare -m`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from factories import write_post
from kiji_cli import REPO, environment, kiji

AS_NOBODY = ("--reuid=nobody", "--regid=nogroup", "--clear-groups")
# Inside a private mount namespace: the folder $1 bind-mounted onto itself, read-only, then the command.
READ_ONLY_MOUNT = (
    'folder="$1"; shift; mount --bind "$folder" "$folder" && mount -o remount,bind,ro "$folder" && exec "$@"'
)


@pytest.fixture
def world() -> Iterator[Path]:
    """A folder any user may enter (pytest's own temporary folders are root's alone), with a blog and its store."""
    folder = Path(tempfile.mkdtemp(prefix="kiji-unwritable-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        posts = folder / "posts"
        posts.mkdir()
        write_post(posts, "2025-01-01-first.md", "最初の記事", "推論コストについての本文です。", tags="[AI]")
        write_post(posts, "2025-01-02-second.md", "Second post", "An English body about RAG.")
        store = folder / "store"
        store.mkdir()
        ingested = kiji("ingest", "--posts", str(posts), "--db", str(store / "kiji.db"))
        assert ingested.returncode == 0, ingested.stderr
        write_post(posts, "2025-01-03-third.md", "三番目", "量子コンピュータの話。")  # news the next ingest would store
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_nobody() -> list[str]:
    """The command prefix that runs `kiji` as the user nobody, or a skip saying why it cannot be done."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is missing: cannot run kiji as another user")
    if os.geteuid() != 0:
        pytest.skip("not running as root: cannot switch to the user nobody to own nothing")
    prefix = [setpriv, *AS_NOBODY]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import bot.store"],
        cwd=REPO,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"the user nobody cannot run this checkout's Python: {probe.stderr.strip()[-200:]}")
    return prefix


def on_a_read_only_mount(folder: Path) -> list[str]:
    """The command prefix that runs `kiji` with `folder` mounted read-only, or a skip saying why it cannot be."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is missing: cannot make a read-only mount")
    prefix = [unshare, "-m", "sh", "-c", READ_ONLY_MOUNT, "sh", str(folder)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot bind-mount a folder read-only here (unshare -m / mount): {probe.stderr.strip()}")
    return prefix


def assert_reading_commands_work(db: Path, prefix: Sequence[str]) -> None:
    listed = kiji("posts", "--db", str(db), "--json", prefix=prefix)
    assert listed.returncode == 0, listed.stderr
    assert sorted(post["title"] for post in json.loads(listed.stdout)) == ["Second post", "最初の記事"]
    found = kiji("search", "推論", "--db", str(db), "--json", prefix=prefix)
    assert found.returncode == 0, found.stderr
    assert [hit["title"] for hit in json.loads(found.stdout)] == ["最初の記事"]


def test_a_write_protected_file_of_another_user_says_so_and_still_reads(world: Path) -> None:
    prefix = as_nobody()
    db = world / "store" / "kiji.db"
    db.chmod(0o444)  # owned by root, as is its folder: nobody may write neither
    result = kiji("ingest", "--posts", str(world / "posts"), "--db", str(db), prefix=prefix)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot write to the database {db}" in result.stderr
    assert "this user (uid 65534) may not write it" in result.stderr and "reading commands work" in result.stderr
    assert_reading_commands_work(db, prefix)


def test_a_store_on_a_read_only_mount_says_so_and_still_reads(world: Path) -> None:
    store = world / "store"
    prefix = on_a_read_only_mount(store)
    db = store / "kiji.db"
    result = kiji("ingest", "--posts", str(world / "posts"), "--db", str(db), prefix=prefix)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot write to the database {db}" in result.stderr
    assert "read-only file system" in result.stderr and "reading commands work" in result.stderr
    assert_reading_commands_work(db, prefix)
    # the mount was the namespace's own: the store is writable again outside it, nothing was lost
    assert kiji("ingest", "--posts", str(world / "posts"), "--db", str(db)).returncode == 0
    assert len(json.loads(kiji("posts", "--db", str(db), "--json").stdout)) == 3
