"""Who a webhook announcement comes from: the blog's name as Discord takes it, its icon as an absolute URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.discord.webhook_delivery import icon_url, webhook_username
from bot.sources.site_config import load_site

POST = "https://blog.example.org/notes/2025/07/01/post.html"


@pytest.mark.parametrize(
    ("icon", "baseurl", "expected"),
    [
        ("https://cdn.example.net/logo.png", "", "https://cdn.example.net/logo.png"),
        ("/assets/logo.png", "", "https://blog.example.org/assets/logo.png"),
        ("assets/logo.png", "/notes/", "https://blog.example.org/notes/assets/logo.png"),
        ("/assets/logo.png", "notes", "https://blog.example.org/notes/assets/logo.png"),
        ("", "", None),
        ("data:image/png;base64,AAAA", "", None),
        ("https://cdn.example.net/" + "x" * 2100, "", None),
    ],
)
def test_the_icon_is_an_absolute_url_discord_can_fetch(icon: str, baseurl: str, expected: str | None) -> None:
    assert icon_url(icon, baseurl, POST) == expected


def test_a_path_needs_a_post_with_a_web_address() -> None:
    assert icon_url("/logo.png", "", "/2025/07/01/post.html") is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Tech Notes", "Tech Notes"),
        ("  Tech\n Notes ", "Tech Notes"),
        ("記" * 100, "記" * 80),
        ("My Discord Blog", None),
        ("clyde's corner", None),
        ("everyone", None),
        ("", None),
    ],
)
def test_the_username_is_one_discord_takes_or_none(name: str, expected: str | None) -> None:
    assert webhook_username(name) == expected


def test_the_site_config_names_the_icon_logo_first(tmp_path: Path) -> None:
    (tmp_path / "_posts").mkdir()
    config = tmp_path / "_config.yml"
    config.write_text("title: T\nfavicon: /favicon.ico\nlogo: /logo.png\n", encoding="utf-8")
    assert load_site(tmp_path).icon == "/logo.png"
    config.write_text("title: T\nfavicon: /favicon.ico\nlogo: [not, a, path]\n", encoding="utf-8")
    assert load_site(tmp_path).icon == "/favicon.ico"
    config.write_text("title: T\n", encoding="utf-8")
    assert load_site(tmp_path).icon == ""
