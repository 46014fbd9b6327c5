"""Announcement templates: what an admin may write, what it renders to, and what is refused."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.content.templates import PLACEHOLDERS, PostFields, Template, TemplateError

TOKYO = ZoneInfo("Asia/Tokyo")


def fields(**overrides: object) -> PostFields:
    values: dict[str, object] = {
        "title": "生成AIの新潮流",
        "url": "https://blog.example/2025/07/01/new/",
        "date": datetime(2025, 7, 1, 9, 5, tzinfo=TOKYO),
        "summaries": {"standard": "標準の要約。", "short": "短い要約。"},
        "description": "",
        "author": "編集部",
        "tags": ("AI", "LLM"),
        "categories": ("news",),
        "blog": "AI Blog",
        "reading_time": 4,
        "role": "<@&42>",
    }
    values.update(overrides)
    return PostFields(**values)  # type: ignore[arg-type]


def render(text: str, **overrides: object) -> str:
    return Template.parse(text).render(fields(**overrides))


def test_every_placeholder_renders_the_posts_field():
    assert render("{title}|{url}|{author}|{blog}|{reading_time}|{role}") == (
        "生成AIの新潮流|https://blog.example/2025/07/01/new/|編集部|AI Blog|4|<@&42>"
    )
    assert render("{tags} / {categories}") == "AI, LLM / news"
    assert render("{summary} {summary:short} {summary:standard}") == "標準の要約。 短い要約。 標準の要約。"


def test_dates_take_a_strftime_format_in_the_time_zone_given():
    assert render("{date}") == "2025-07-01 09:05"
    assert render("{date:%Y年%m月%d日 %H時}") == "2025年07月01日 09時"
    utc = datetime(2025, 7, 1, 0, 5, tzinfo=ZoneInfo("UTC"))
    assert render("{date:%d %H:%M %Z}", date=utc) == "01 00:05 UTC"


def test_a_fallback_takes_the_first_non_empty_alternative():
    assert render("{description||summary}") == "標準の要約。"
    assert render("{description || summary:short}", description="著者の要旨") == "著者の要旨"
    assert render("[{author||blog}]", author="") == "[AI Blog]"
    assert render("x{description}y") == "xy"  # nothing at all is an empty piece, not an error


def test_doubled_braces_are_literal_and_other_text_is_kept_as_written():
    assert render("{{title}} is {title}!") == "{title} is 生成AIの新潮流!"
    assert render("**{title}**\n<{url}>") == "**生成AIの新潮流**\n<https://blog.example/2025/07/01/new/>"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{nope}", "{nope} is not a placeholder"),
        ("{title.__class__}", "is not a placeholder"),
        ("{title[0]}", "is not a placeholder"),
        ("{title!r}", "is not a placeholder"),
        ("{0}", "is not a placeholder"),
        ("{}", "is not a placeholder"),
        ("{title:>99999}", "only {date} and {summary} take"),
        ("{date:%Q}", "%Q"),
        ("{date:}", "format Kiji does not take"),
        ("{summary:long}", "short or standard"),
        ("open {title", "never closed"),
        ("{ti{tle}}", "never closed"),
        ("close }", "closes nothing"),
        ("x" * 2001, "at most 2000"),
    ],
)
def test_what_is_not_a_template_is_refused_with_the_reason(text: str, reason: str):
    with pytest.raises(TemplateError, match=reason.replace("{", r"\{").replace("[", r"\[")):
        Template.parse(text)


def test_an_unknown_name_is_answered_with_every_placeholder_there_is():
    with pytest.raises(TemplateError) as refused:
        Template.parse("{titel}")
    assert all("{" + name + "}" in str(refused.value) for name in PLACEHOLDERS)


def test_a_post_can_never_inject_template_syntax():
    # A title that looks like a placeholder or a format spec is text like any other.
    hostile = "{role} {url.__globals__} %(x)s {0}"
    assert render("{title}", title=hostile) == hostile
    assert render("{title}", title=hostile, role="") == hostile


def test_the_template_says_which_fields_and_summaries_it_needs():
    template = Template.parse("{title} {description||summary:short} {date:%Y}")
    assert template.names == {"title", "description", "summary", "date"}
    assert template.summary_lengths == {"short"}
    assert Template.parse("{summary}").summary_lengths == {"standard"}
    assert Template.parse("{title}").summary_lengths == frozenset()
