"""`kiji demo` refusing what it cannot do, and saying what it does not check."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.session import DemoSession
from bot.settings import Settings


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
