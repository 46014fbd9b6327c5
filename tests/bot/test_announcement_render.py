"""Rendered announcements against Discord's OpenAPI spec and limits: every layout, any template, any post.

The issue's bar: zero requests that the spec or Discord's limits refuse, over every template in
the tests and over 1,000 random ones. A random template is either refused when it is set, or
gives a message Discord takes for any post, however long or hostile its fields.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content.templates import PLACEHOLDERS, TemplateError
from bot.discord.announcement import LAYOUTS, AnnouncementStyle, render_announcement
from bot.emulator.validation import SpecValidator, load_spec_validator
from bot.models import Post

ROLE = 4242
MESSAGE_ROUTE = "/channels/1/messages"


def a_post(title: str = "新着記事", **overrides: object) -> Post:
    values: dict[str, object] = {
        "path": "_posts/2025-07-01-new.md",
        "jekyll_id": "/2025/07/01/new",
        "url": "/2025/07/01/new/",
        "abs_url": "https://blog.example/2025/07/01/new/",
        "slug": "new",
        "title": title,
        "date_utc": 1_751_328_000.0,
        "date_iso": "2025-07-01T09:00:00+09:00",
        "tags": ("AI", "LLM"),
        "categories": ("news",),
        "author": "編集部",
        "excerpt": None,
        "description": None,
        "reading_time": 3,
        "id": 1,
    }
    values.update(overrides)
    return Post(**values)  # type: ignore[arg-type]


def summarizer(text: str):
    async def summarize(post: Post, length: str, locale: str) -> tuple[str, str]:
        return (text if length == "standard" else text[:80]), "Kiji's summary"

    return summarize


def render(post: Post, style: AnnouncementStyle, summary: str = "要約です。", *, strict: bool = False, role=ROLE):
    return asyncio.run(
        render_announcement(
            post,
            style,
            summarize=summarizer(summary),
            locale="ja",
            blog_tz=ZoneInfo("Asia/Tokyo"),
            blog="AI Blog",
            role_id=role,
            strict=strict,
        )
    )


@pytest.fixture(scope="module")
def validator(openapi_spec_path: Path) -> SpecValidator:
    return load_spec_validator(openapi_spec_path)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_without_a_template_is_a_message_discord_takes(validator: SpecValidator, layout: str):
    body = render(a_post(), AnnouncementStyle.of(layout, None)).payload()
    assert validator.validate("POST", MESSAGE_ROUTE, body) == []
    shown = str(body)
    assert "新着記事" in shown and "https://blog.example/2025/07/01/new/" in shown


def test_the_card_is_a_components_v2_container_with_title_summary_and_read_button(validator: SpecValidator):
    body = render(a_post(), AnnouncementStyle.of("card", "{role} 新着")).payload()
    assert body["flags"] == 1 << 15 and "content" not in body and "embeds" not in body
    [container] = body["components"]
    assert container["type"] == 17
    texts = [c["content"] for c in container["components"] if c["type"] == 10]
    assert texts[0] == f"<@&{ROLE}> 新着"
    assert texts[1] == "### [新着記事](https://blog.example/2025/07/01/new/)"
    assert texts[2] == "要約です。"
    [row] = [c for c in container["components"] if c["type"] == 1]
    assert row["components"][0]["url"] == "https://blog.example/2025/07/01/new/"
    assert validator.validate("POST", MESSAGE_ROUTE, body) == []


def test_only_the_chosen_role_may_ping_whatever_the_post_says():
    post = a_post("@everyone <@&1> <@2> 見て", description="@here")
    for layout in LAYOUTS:
        body = render(post, AnnouncementStyle.of(layout, "{role} {title} {description}")).payload()
        assert body["allowed_mentions"]["parse"] == []
        assert body["allowed_mentions"].get("roles") == [ROLE]
        unrolled = render(post, AnnouncementStyle.of(layout, "{title}"), role=None).payload()
        assert unrolled["allowed_mentions"]["parse"] == [] and not unrolled["allowed_mentions"].get("roles")


def test_the_embed_layout_puts_the_template_above_the_card_kiji_always_sent():
    body = render(a_post(), AnnouncementStyle.of("embed", "{role} {title}（{date:%m/%d}）")).payload()
    assert body["content"] == f"<@&{ROLE}> 新着記事（07/01）"
    assert body["embeds"][0]["title"] == "新着記事"
    plain = render(a_post(), AnnouncementStyle.of("embed", None)).payload()
    assert plain["content"] == f"<@&{ROLE}>"  # as before templates: the role, then the embed


def test_dates_follow_the_subscriptions_time_zone():
    text = "{date:%Y-%m-%d %H:%M %Z}"
    assert render(a_post(), AnnouncementStyle.of("text", text)).content == "2025-07-01 09:00 JST"
    assert render(a_post(), AnnouncementStyle.of("text", text, "UTC")).content == "2025-07-01 00:00 UTC"
    with pytest.raises(TemplateError, match="not a time zone"):
        AnnouncementStyle.of("text", text, "Mars/Olympus")


def test_a_message_discord_would_refuse_is_refused_when_set_and_cut_when_sent(validator: SpecValidator):
    long_title = a_post("長" * 1500)
    style = AnnouncementStyle.of("text", "{title}{title}")
    with pytest.raises(TemplateError, match="3000 characters; Discord takes at most 2000"):
        render(long_title, style, strict=True)
    sent = render(long_title, style).payload()
    assert len(sent["content"]) == 2000 and validator.validate("POST", MESSAGE_ROUTE, sent) == []
    with pytest.raises(TemplateError, match="empty message"):
        render(a_post(), AnnouncementStyle.of("text", "{description}"), strict=True)
    assert render(a_post(), AnnouncementStyle.of("text", "{description}")).content.startswith("**新着記事**")


PIECES = st.one_of(
    st.sampled_from(["{" + name + "}" for name in PLACEHOLDERS]),
    st.sampled_from(["{date:%Y年%m月%d日}", "{summary:short}", "{description||summary}", "{author||blog||title}"]),
    st.sampled_from(["{", "}", "{{", "}}", "{x}", "{title.__class__}", "{date:%Q}", "||", ":", "%s", "@everyone"]),
    st.text(min_size=0, max_size=40),
    st.text(alphabet="長", min_size=100, max_size=900),
)
TEMPLATES = st.lists(PIECES, max_size=12).map("".join)
FIELD_TEXT = st.one_of(st.text(max_size=60), st.text(alphabet="長@<>*_[]()`#", min_size=200, max_size=3000))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=TEMPLATES, layout=st.sampled_from(LAYOUTS), title=FIELD_TEXT, summary=FIELD_TEXT)
def test_a_random_template_is_refused_when_set_or_gives_a_message_discord_takes(
    validator: SpecValidator, template: str, layout: str, title: str, summary: str
):
    try:
        style = AnnouncementStyle.of(layout, template or None)
    except TemplateError as refused:
        assert str(refused)  # refused with a reason, never silently
        return
    post = a_post(title or "無題", author=title[:50] or None, description=summary or None)
    body = render(post, style, summary).payload()
    assert validator.validate("POST", MESSAGE_ROUTE, body) == []
    assert body["allowed_mentions"]["parse"] == []
