"""`kiji demo` refusing what it cannot do, and saying what it does not check."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from pathlib import Path

import pytest
from factories import make_blog

from bot.cli import main
from bot.demo.session import DemoSession
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_a_missing_spec_is_said_not_hidden(tmp_path: Path) -> None:
    settings = Settings(posts_dir=tmp_path, site_dir=None, db_path=tmp_path / "x.sqlite3")
    session = DemoSession(settings, spec_path=tmp_path / "openapi.json")
    assert session.validation_note.startswith("Discord's limits are checked; its OpenAPI spec is not:")
    assert "openapi.json is absent" in session.validation_note
    assert session.emulator.validator is None


def test_kiji_demo_on_a_missing_folder_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--posts", str(tmp_path / "nowhere"), "--no-browser"], out=io.StringIO()) == 2
    assert f"the posts folder {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err


def test_kiji_demo_refuses_a_port_that_is_not_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--port", "70000", "--no-browser"], out=io.StringIO())
    assert exited.value.code == 2
    assert "'70000' is not a port: give a number from 0 (any free one) to 65535" in capsys.readouterr().err


async def test_kiji_demo_opens_the_page_in_the_browser_there_is(tmp_path: Path) -> None:
    """$BROWSER names the browser (as webbrowser reads it): a script that says which URL it was asked to open."""
    posts = make_blog(tmp_path / "posts", tagged_ai=1)
    browser = tmp_path / "browser.sh"
    browser.write_text('#!/bin/sh\necho "browser opened $1"\n', encoding="utf-8")
    browser.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env.update(PYTHONPATH=str(REPO), BROWSER=str(browser))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "demo", "--posts", str(posts), "-q",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not any(line.startswith("browser opened ") for line in lines):
                line = (await process.stdout.readline()).decode()
                assert line, "kiji demo ended early:\n" + "".join(lines)
                lines.append(line)
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
    urls = [line.strip() for line in lines if line.startswith("http://127.0.0.1:")]
    assert len(urls) == 1, lines  # the URL, on a line of its own
    assert f"browser opened {urls[0]}\n" in lines
    assert process.returncode == 0, "".join(lines) + rest.decode()
