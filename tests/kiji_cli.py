"""`kiji …` run as a user runs it (a subprocess with a clean environment), for tests of what it prints and keeps."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def environment() -> dict[str, str]:
    """This process's environment without Kiji's settings, importing this checkout (and the tests' helpers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    return env


def kiji(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run `kiji args` to its end (after `prefix`, a command such as setpriv that runs it); none of the
    developer's own KIJI_/DISCORD_ settings leak in."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot.cli", *args], cwd=cwd, env={**environment(), **(env or {})},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def files_holding(root: Path, needle: bytes) -> list[Path]:
    """Every file below `root` whose bytes contain `needle` (as `strings | grep` would find it)."""
    files = [path for path in root.rglob("*") if path.is_file() and not path.is_symlink()]
    return [path for path in files if needle in path.read_bytes()]
