"""The install URLs: to a server asking exactly for what announcing checks, and to a user's account."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import discord

from bot.discord.announcer import required_permissions
from bot.discord.invite import CHANNEL_KINDS, invite_url, user_install_url

REPO = Path(__file__).resolve().parents[2]


def test_invite_url_is_discords_oauth2_form_with_the_bot_scopes() -> None:
    url = urlsplit(invite_url(123456789012345678))
    assert (url.scheme, url.netloc, url.path) == ("https", "discord.com", "/oauth2/authorize")
    query = parse_qs(url.query)
    assert query["client_id"] == ["123456789012345678"]
    assert query["scope"][0].split() == ["bot", "applications.commands"]


def test_invite_asks_for_every_permission_the_announcer_checks_and_nothing_else() -> None:
    granted = discord.Permissions(int(parse_qs(urlsplit(invite_url(1)).query)["permissions"][0]))
    checked = {attribute for kind in CHANNEL_KINDS for attribute in required_permissions(kind)}
    assert all(getattr(granted, attribute) for attribute in checked), checked
    assert granted.value.bit_count() == len(checked)  # one bit per checked permission, no other
    assert not granted.administrator and not granted.manage_messages and not granted.mention_everyone


def test_user_install_url_asks_for_the_commands_only_on_the_users_account() -> None:
    url = urlsplit(user_install_url(123456789012345678))
    assert (url.scheme, url.netloc, url.path) == ("https", "discord.com", "/oauth2/authorize")
    query = parse_qs(url.query)
    assert query == {
        "client_id": ["123456789012345678"],
        "integration_type": ["1"],
        "scope": ["applications.commands"],
    }


def test_kiji_invite_prints_the_server_link_and_the_user_install_link() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "invite", "--client-id", "123456789012345678"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    urls = [line for line in result.stdout.splitlines() if line.startswith("https://")]
    assert urls == [invite_url(123456789012345678), user_install_url(123456789012345678)]
    labels = [line for line in result.stdout.splitlines() if not line.startswith("https://")]
    assert "server" in labels[0] and "your own account" in labels[1] and "User Install" in labels[1]
