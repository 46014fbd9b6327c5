"""Embed builders: always within Discord's limits, cut visibly, in the reader's language."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from factories import NOW

from bot.content import limits
from bot.discord.ui import fit_embed, list_pages, post_embed, post_entry, read_button_view
from bot.models import Post

TOKYO = ZoneInfo("Asia/Tokyo")


def post(**changes: object) -> Post:
    values: dict[str, object] = {
        "id": 1,
        "path": "_posts/x.md",
        "jekyll_id": "/x",
        "url": "/x/",
        "abs_url": "https://blog.example.org/x/",
        "slug": "x",
        "title": "タイトル",
        "date_utc": NOW,
        "date_iso": "2027-01-15T17:00:00+09:00",
        "tags": ("AI", "LLM"),
        "categories": (),
        "author": "編集部",
        "excerpt": None,
        "description": None,
        "reading_time": 7,
    }
    values.update(changes)
    return Post(**values)  # type: ignore[arg-type]


def total(embed) -> int:  # type: ignore[no-untyped-def]
    return len(embed)


def test_post_embed_in_japanese_and_english() -> None:
    ja = post_embed(post(), "要約です。", "要約：記事本文から抽出", tz=TOKYO, locale="ja").to_dict()
    en = post_embed(post(), "A summary.", "Summary: extracted", tz=TOKYO, locale="en-US").to_dict()
    assert [f["name"] for f in ja["fields"]] == ["公開日", "著者", "読了時間", "タグ"]
    assert [f["name"] for f in en["fields"]] == ["Published", "Author", "Reading time", "Tags"]
    assert ja["fields"][2]["value"] == "約7分で読めます" and en["fields"][2]["value"] == "7 min read"
    assert ja["url"] == "https://blog.example.org/x/"
    # 1_800_000_000 is 2027-01-15 17:00 in Tokyo: dates are shown in the site's time zone.
    assert ja["fields"][0]["value"] == "2027年1月15日 17:00"


def test_huge_post_fits_every_limit() -> None:
    giant = post(title="長" * 1000, author="著" * 2000, tags=tuple(f"tag{i}" * 20 for i in range(400)))
    embed = post_embed(giant, "文" * 10_000, "f" * 5000, tz=TOKYO, locale="ja")
    data = embed.to_dict()
    assert len(data["title"]) <= limits.EMBED_TITLE and data["title"].endswith(limits.ELLIPSIS)
    assert len(data["description"]) <= limits.EMBED_DESCRIPTION
    assert len(data["footer"]["text"]) <= limits.EMBED_FOOTER
    assert all(len(f["value"]) <= limits.EMBED_FIELD_VALUE for f in data["fields"])
    assert total(embed) <= limits.EMBED_TOTAL


def test_relative_urls_are_never_sent() -> None:
    local = post(abs_url="/2025/01/01/x.html")
    assert "url" not in post_embed(local, "s", "f", tz=TOKYO, locale="ja").to_dict()
    assert read_button_view(local, "ja") is None
    assert "](" not in post_entry(local, "gist", tz=TOKYO, locale="ja")


def test_link_text_cannot_break_out_of_its_label() -> None:
    entry = post_entry(post(title="a](https://evil.example) [b"), "", tz=TOKYO, locale="en-US")
    assert "](https://evil.example)" not in entry


def test_list_pages_have_page_numbers_and_fit() -> None:
    pages = list_pages("T", [f"entry {i} " + "x" * 600 for i in range(25)], "en-US")
    assert [p.footer.text for p in pages] == ["Page 1/3", "Page 2/3", "Page 3/3"]
    assert all(len(p) <= limits.EMBED_TOTAL for p in pages)


def test_fit_embed_trims_description_to_the_total() -> None:
    import discord

    embed = discord.Embed(title="t", description="d" * 4096)
    for i in range(25):
        embed.add_field(name=f"n{i}", value="v" * 1024)
    fitted = fit_embed(embed)
    assert len(fitted) <= limits.EMBED_TOTAL


def test_read_button_is_left_out_when_the_url_is_too_long_for_discord() -> None:
    fits = read_button_view(post(abs_url="https://blog.example.org/" + "a" * 487), "ja")
    assert fits is not None and len(fits.children) == 1
    assert read_button_view(post(abs_url="https://blog.example.org/" + "a" * 488), "ja") is None


def test_embed_link_is_left_out_when_the_url_is_too_long_for_discord() -> None:
    at_limit = "https://blog.example.org/" + "a" * (limits.EMBED_URL - 25)
    assert post_embed(post(abs_url=at_limit), "s", "f", tz=TOKYO, locale="ja").url == at_limit
    assert post_embed(post(abs_url=at_limit + "a"), "s", "f", tz=TOKYO, locale="ja").url is None
    assert "](" not in post_entry(post(abs_url=at_limit), "gist", tz=TOKYO, locale="ja")  # too long for a list
