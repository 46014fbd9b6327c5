"""The card's thumbnail and the embed's, rendered for any post with a picture, against Discord's OpenAPI spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_announcement_render import FIELD_TEXT, MESSAGE_ROUTE, a_post, render

from bot.content.images import MAX_IMAGE_URL, image_url
from bot.discord.announcement import LAYOUTS, AnnouncementStyle
from bot.emulator.validation import SpecValidator, load_spec_validator

LONGEST = "https://cdn.example.org/" + "a" * (MAX_IMAGE_URL - len("https://cdn.example.org/"))


@pytest.fixture(scope="module")
def validator(openapi_spec_path: Path) -> SpecValidator:
    return load_spec_validator(openapi_spec_path)


def test_the_card_puts_title_and_summary_in_a_section_beside_the_thumbnail(validator: SpecValidator) -> None:
    post = a_post(image="https://blog.example/assets/og.png")
    body = render(post, AnnouncementStyle.of("card", "{role} 新着")).payload()
    [container] = body["components"]
    lead, section, details, row = container["components"]
    assert (lead["type"], section["type"], details["type"], row["type"]) == (10, 9, 10, 1)
    assert [c["content"] for c in section["components"]] == [
        "### [新着記事](https://blog.example/2025/07/01/new/)",
        "要約です。",
    ]
    assert section["accessory"] == {
        "type": 11,
        "media": {"url": "https://blog.example/assets/og.png"},
        "description": "新着記事",
        "spoiler": False,
    }
    assert validator.validate("POST", MESSAGE_ROUTE, body) == []
    embed = render(post, AnnouncementStyle.of("embed", None)).payload()["embeds"][0]
    assert embed["thumbnail"] == {"url": "https://blog.example/assets/og.png"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    layout=st.sampled_from(LAYOUTS),
    title=FIELD_TEXT,
    summary=FIELD_TEXT,
    picture=st.one_of(
        st.just(LONGEST),
        st.just("https://例え.jp/画像 1.png?w=1&h=2"),
        st.text(max_size=300).map(lambda path: "https://cdn.example.org/" + path),
    ),
)
def test_any_post_with_any_kept_picture_gives_a_message_discord_takes(
    validator: SpecValidator, layout: str, title: str, summary: str, picture: str
) -> None:
    image = image_url(picture)
    post = a_post(title or "無題", image=image)
    body = render(post, AnnouncementStyle.of(layout, "{title} {image}"), summary).payload()
    assert validator.validate("POST", MESSAGE_ROUTE, body) == []
    if image and layout != "text":
        assert image in str(body)
