"""`kiji` run as a user runs it, for the store's tests (a subprocess with this checkout's code)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def environment() -> dict[str, str]:
    """This process's environment without Kiji's settings, importing this checkout (and the tests' helpers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    return env


def kiji(*args: str, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """`kiji ARGS…` (after `prefix`, a command such as setpriv that runs it), to completion."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot.cli", *args],
        cwd=REPO,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
