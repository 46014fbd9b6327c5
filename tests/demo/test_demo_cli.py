"""`kiji demo` refusing what it cannot do, and saying what it does not check."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from factories import make_blog

import bot
from bot.cli import main
from bot.demo.session import DemoSession
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
#: The example post shipped in the package, served when no source is configured.
EXAMPLE_POSTS = Path(bot.__file__).resolve().parent / "examples" / "posts"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


def _demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env["PYTHONPATH"] = str(REPO)
    return env


async def _read_until_url(stream: asyncio.StreamReader, lines: list[str]) -> str:
    async with asyncio.timeout(90):
        while True:
            line = (await stream.readline()).decode()
            assert line, "kiji demo ended early:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("http://127.0.0.1:") and " " not in line.strip():
                return line.strip()


def _descendants(pid: int) -> set[int]:
    """Every process under ``pid``, from /proc (Linux)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


def test_a_missing_spec_is_said_not_hidden(tmp_path: Path) -> None:
    settings = Settings(posts_dir=tmp_path, site_dir=None, db_path=tmp_path / "x.sqlite3")
    session = DemoSession(settings, spec_path=tmp_path / "openapi.json")
    assert session.validation_note.startswith("Requests are checked against Discord's limits, not its OpenAPI spec:")
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


def test_kiji_demo_on_a_port_in_use_says_to_pick_another(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    posts = make_blog(tmp_path / "posts", tagged_ai=1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--posts", str(posts), "--port", str(port), "--no-browser"], out=io.StringIO()) == 2
    assert f"cannot serve the page on 127.0.0.1:{port}: " in (err := capsys.readouterr().err)
    assert "pass another --port (0: any free one)" in err


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


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="counts the demo's processes in /proc (Linux)")
async def test_ctrl_c_in_the_terminal_stops_the_demo_without_tracebacks(tmp_path: Path) -> None:
    """A terminal's Ctrl-C is sent to the whole foreground group: the demo, its ingest process and its workers.

    The demo is started in a group of its own and the group gets SIGINT, as the terminal sends it.
    """
    posts = make_blog(tmp_path / "posts", tagged_ai=3)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "demo", "--posts", str(posts), "--no-browser",
        cwd=tmp_path, env=_demo_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        await _read_until_url(process.stdout, lines)  # the first ingest ran in the ingest process and its pool
        group = _descendants(process.pid)
        assert len(group) >= 3, group  # a forkserver, the ingest process, its forkserver and workers
    finally:
        os.killpg(process.pid, signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 60)
    errors = err.decode()
    assert process.returncode == 0, "".join(lines) + out.decode() + errors
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors
    assert all(LOG_LINE.match(line) for line in errors.splitlines()), errors  # log lines only
    assert len(errors.splitlines()) < 10, errors


def _summary_choices(url: str) -> list[dict]:
    """What /summary's autocomplete offers on an empty field, asked as the page asks (its token from its HTML)."""
    with urllib.request.urlopen(url) as response:
        token = re.search(r'name="kiji-demo-token" content="([^"]+)"', response.read().decode())
    assert token
    request = urllib.request.Request(
        url + "api/autocomplete",
        data=json.dumps({"name": "summary", "focused": "post", "options": {"post": ""}}).encode(),
        headers={"Content-Type": "application/json", "X-Kiji-Demo-Token": token.group(1)},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["choices"]


async def test_kiji_demo_outside_the_repository_serves_the_example_post(tmp_path: Path) -> None:
    """Run from any folder without --posts, the demo serves the example post shipped with Kiji."""
    [post] = EXAMPLE_POSTS.glob("*.md")
    title = re.search(r'^title: "(.*)"$', post.read_text(encoding="utf-8"), re.MULTILINE)
    assert title, post
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "demo", "--no-browser", "-q",
        cwd=tmp_path, env=_demo_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        url = await _read_until_url(process.stdout, lines)
        choices = await asyncio.to_thread(_summary_choices, url)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, "".join(lines) + out.decode() + err.decode()
    assert f"reading posts from {EXAMPLE_POSTS};" in lines[0]
    assert [c["name"] for c in choices] == [title.group(1)]


def test_the_example_post_and_the_page_are_package_data(tmp_path: Path) -> None:
    """What setuptools copies into the wheel (build_py): the example post and the page's files are in it."""
    built = tmp_path / "lib"
    build = ["egg_info", "--egg-base", str(tmp_path), "build_py", "--build-lib", str(built)]  # nothing written in REPO
    subprocess.run([sys.executable, "setup.py", "-q", *build], cwd=REPO, check=True, capture_output=True)
    shipped = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()}
    examples = {p.relative_to(REPO).as_posix() for p in (REPO / "bot" / "examples" / "posts").glob("*.md")}
    assert examples and examples <= shipped
    assert {"bot/demo/static/index.html", "bot/demo/static/demo.js", "bot/demo/static/demo.css"} <= shipped
