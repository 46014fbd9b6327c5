"""A post's picture: which addresses are kept, how they are resolved, and which image of a body is the first."""

from __future__ import annotations

import pytest

from bot.content.images import MAX_IMAGE_URL, first_body_image, first_html_image, front_matter_image, image_url


@pytest.mark.parametrize(
    ("candidate", "base", "expected"),
    [
        ("https://cdn.example.org/a.png", None, "https://cdn.example.org/a.png"),
        ("  HTTP://Example.org/a.png?w=600 ", None, "http://example.org/a.png?w=600"),
        ("/assets/a.png", "https://blog.example.org/2025/07/01/post/", "https://blog.example.org/assets/a.png"),
        ("a.png", "https://blog.example.org/2025/07/01/post/", "https://blog.example.org/2025/07/01/post/a.png"),
        ("//cdn.example.org/a.png", "https://blog.example.org/", "https://cdn.example.org/a.png"),
        ("https://例え.jp/画像 1.png", None, "https://xn--r8jz45g.jp/%E7%94%BB%E5%83%8F%201.png"),
        ("https://example.org/already%20encoded.png", None, "https://example.org/already%20encoded.png"),
        ("https://example.org:8443/a.png#top", None, "https://example.org:8443/a.png"),
        # dropped: nothing Discord could fetch, or something that must never be stored
        ("/assets/a.png", None, None),
        ("a.png", "/2025/07/01/post/", None),
        ("data:image/png;base64,iVBORw0KGgo=", None, None),
        ("javascript:alert(1)", "https://blog.example.org/", None),
        ("ftp://example.org/a.png", None, None),
        ("https://user:secret@example.org/a.png", None, None),
        ("https:///a.png", None, None),
        ("https://example.org:port/a.png", None, None),
        ("https://example.org/a\n.png", None, None),
        ("", None, None),
        (None, None, None),
        (42, None, None),
        ("https://example.org/" + "a" * MAX_IMAGE_URL, None, None),
    ],
)
def test_only_absolute_http_addresses_discord_can_fetch_are_kept(
    candidate: object, base: str | None, expected: str | None
) -> None:
    assert image_url(candidate, base) == expected


def test_a_kept_address_is_never_longer_than_discord_takes() -> None:
    fits = "https://example.org/" + "a" * (MAX_IMAGE_URL - len("https://example.org/"))
    assert image_url(fits) == fits
    assert image_url(fits + "a") is None
    # percent-encoding can lengthen an address past the limit: measured after encoding
    assert image_url("https://example.org/" + "画" * 700) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/assets/og.png", "/assets/og.png"),
        ({"path": "/assets/og.png", "height": 630, "width": 1200}, "/assets/og.png"),
        ({"facebook": "/fb.png", "twitter": "/tw.png"}, "/fb.png"),
        ({"twitter": "/tw.png"}, "/tw.png"),
        ({"height": 630}, None),
        (["/a.png"], None),
        ("  ", None),
        (True, None),
        (None, None),
    ],
)
def test_front_matter_image_takes_the_forms_jekyll_seo_tag_reads(value: object, expected: str | None) -> None:
    assert front_matter_image(value) == expected


def test_the_first_image_of_a_body_is_the_first_a_reader_sees() -> None:
    body = (
        "Intro text.\n\n"
        "<!-- ![draft](/old.png) -->\n"
        "```markdown\n![example](/in-a-fence.png)\n```\n"
        "Write `![alt](/in-code.png)` for an image.\n\n"
        'Then <img class="wide" src="/assets/first.png?a=1&amp;b=2" alt="x"> and ![second](/second.png).\n'
    )
    assert first_body_image(body) == "/assets/first.png?a=1&b=2"
    assert first_body_image('![chart](<images/my chart.png> "The chart")\n') == "images/my chart.png"
    assert first_body_image("![a](https://cdn.example.org/x.png) <img src='/y.png'>") == (
        "https://cdn.example.org/x.png"
    )
    assert first_body_image("No picture here, only [a link](/page/).") is None
    assert first_body_image("~~~\n<img src=/fenced.png>\n~~~\n") is None


def test_site_variables_before_a_body_image_are_the_sites() -> None:
    body = "![a]({{ site.baseurl }}/assets/a.png)\n"
    assert first_body_image(body, "https://blog.example.org", "/blog") == "/blog/assets/a.png"
    assert first_body_image("![a]({{site.url}}/a.png)", "https://blog.example.org", "") == (
        "https://blog.example.org/a.png"
    )


def test_the_first_img_of_a_feed_fragment() -> None:
    assert first_html_image('<p>Hi</p><IMG SRC="https://e.org/a.png"><img src="/b.png">') == "https://e.org/a.png"
    assert first_html_image("<p>no picture</p>") is None
