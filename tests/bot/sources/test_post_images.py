"""Where a post's picture is read from: front matter `image`, og:image, a feed's media, the first body image."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from test_web_agreement import BUILT_POSTS, CORPUS, markdown_site
from test_web_cli import ingest, posts
from web_feeds import Entry, post_html, wordpress_rss
from web_server import FIXTURES, WebServer

from bot.sources.feeds import parse_feed
from bot.sources.post_reader import parse_post
from bot.sources.site_config import Site, load_site
from bot.sources.web_pages import read_page

BODY = "本文です。内容は十分にあります。\n"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    (tmp_path / "_posts").mkdir()
    (tmp_path / "_config.yml").write_text("url: https://blog.example.org\nbaseurl: /notes\n", encoding="utf-8")
    return load_site(tmp_path)


def picture(site: Site, front: str, body: str = BODY) -> str | None:
    text = f"---\ntitle: 記事\n{front}\n---\n\n{body}"
    return parse_post(text.encode("utf-8"), "_posts/2025-07-01-post.md", site).image


def test_front_matter_image_is_resolved_like_jekyll_seo_tag_does(site: Site) -> None:
    on_site = "https://blog.example.org/notes/assets/og.png"
    assert picture(site, "image: /assets/og.png") == on_site
    assert picture(site, "image: assets/og.png") == on_site
    assert picture(site, "image:\n  path: /assets/og.png\n  height: 630") == on_site
    assert picture(site, "image: https://cdn.example.net/og.png") == "https://cdn.example.net/og.png"
    assert picture(site, "image: /assets/og.png?v=2") == on_site + "?v=2"
    assert picture(site, "image: /assets/画像.png") == "https://blog.example.org/notes/assets/%E7%94%BB%E5%83%8F.png"


def test_front_matter_image_wins_over_the_body(site: Site) -> None:
    assert picture(site, "image: /og.png", "![first](/body.png)\n") == "https://blog.example.org/notes/og.png"


def test_without_front_matter_image_the_bodys_first_image_is_the_picture(site: Site) -> None:
    # relative to the post's page, https://blog.example.org/notes/2025/07/01/post.html
    assert (
        picture(site, "tags: [AI]", "前置き\n\n![図](figure.png)\n")
        == "https://blog.example.org/notes/2025/07/01/figure.png"
    )
    assert picture(site, "tags: [AI]", '<img src="/notes/a.png">\n') == "https://blog.example.org/notes/a.png"
    assert picture(site, "tags: [AI]", "![a]({{ site.baseurl }}/b.png)\n") == "https://blog.example.org/notes/b.png"


@pytest.mark.parametrize(
    "front",
    [
        "image: data:image/png;base64,AAAA",
        "image: javascript:alert(1)",
        "image: [a.png, b.png]",
        "image:\n  path: 5",
        "image: https://user:pw@example.org/a.png",
        "image: ''",
        "image:",
    ],
)
def test_an_unusable_image_is_dropped_and_the_post_is_still_read(site: Site, front: str) -> None:
    assert picture(site, front) is None
    assert picture(site, front, "![fallback](https://cdn.example.net/f.png)\n") == "https://cdn.example.net/f.png"


def test_a_post_without_an_image_has_none(site: Site) -> None:
    assert picture(site, "tags: [AI]", "画像のない記事です。`![not](/code.png)`\n") is None


def test_without_a_site_address_a_relative_image_cannot_be_placed(tmp_path: Path) -> None:
    posts_only = load_site(tmp_path)
    assert picture(posts_only, "image: /assets/og.png") is None
    assert picture(posts_only, "image: https://cdn.example.net/og.png") == "https://cdn.example.net/og.png"


def page(head: str, body: str = "<p>本文</p>") -> bytes:
    return (
        '<html><head><meta property="og:type" content="article"><meta property="og:title" content="記事">'
        f'<meta property="article:published_time" content="2025-07-01T00:00:00Z">{head}</head>'
        f"<body><header><img src='/logo.png'></header><article>{body}</article></body></html>"
    ).encode()


def test_a_pages_picture_is_its_og_image_resolved_against_the_page() -> None:
    url = "https://web.example.org/2025/07/01/post/"
    og = '<meta property="og:image" content="/img/og.png"><meta name="twitter:image" content="/img/tw.png">'
    assert read_page(page(og), url, "utf-8").image == "https://web.example.org/img/og.png"  # type: ignore[union-attr]
    twitter = '<meta name="twitter:image" content="https://cdn.example.org/tw.png">'
    assert read_page(page(twitter), url, "utf-8").image == "https://cdn.example.org/tw.png"  # type: ignore[union-attr]
    ld = '<script type="application/ld+json">{"@type": "BlogPosting", "image": {"url": "ld.png"}}</script>'
    assert read_page(page(ld), url, "utf-8").image == url + "ld.png"  # type: ignore[union-attr]
    inline = page("", '<p>本文</p><img src="fig.png">')
    assert read_page(inline, url, "utf-8").image == url + "fig.png"  # type: ignore[union-attr]
    assert read_page(page(""), url, "utf-8").image is None  # type: ignore[union-attr]  # the header's logo is not it
    broken = '<meta property="og:image" content="javascript:x()">'
    assert read_page(page(broken), url, "utf-8").image is None  # type: ignore[union-attr]


def test_a_feed_entrys_picture_is_its_media_or_enclosure_else_its_first_img() -> None:
    base = "https://feed.example.org"
    rss = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        "<title>t</title><link>https://feed.example.org/</link>"
        "<item><title>a</title><link>https://feed.example.org/a/</link><pubDate>Tue, 01 Jul 2025 00:00:00 GMT</pubDate>"
        '<media:thumbnail url="/thumb/a.jpg"/><description>&lt;img src="/in-a.png"&gt;</description></item>'
        "<item><title>b</title><link>https://feed.example.org/b/</link><pubDate>Tue, 01 Jul 2025 00:00:00 GMT</pubDate>"
        '<enclosure url="https://feed.example.org/b.mp3" type="audio/mpeg" length="1"/>'
        '<enclosure url="https://feed.example.org/b.jpg" type="image/jpeg" length="1"/></item>'
        "<item><title>c</title><link>https://feed.example.org/c/</link><pubDate>Tue, 01 Jul 2025 00:00:00 GMT</pubDate>"
        "<description>&lt;p&gt;x&lt;/p&gt;&lt;img src=&quot;pic.png&quot;&gt;</description></item>"
        "<item><title>d</title><link>https://feed.example.org/d/</link><pubDate>Tue, 01 Jul 2025 00:00:00 GMT</pubDate>"
        "<description>no picture</description></item>"
        "</channel></rss>"
    )
    items = parse_feed(rss.encode(), "application/rss+xml", base + "/feed").items
    assert [item.image for item in items] == [
        "https://feed.example.org/thumb/a.jpg",
        "https://feed.example.org/b.jpg",
        "https://feed.example.org/c/pic.png",
        None,
    ]
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "j",
        "items": [
            {"id": "1", "url": "https://j.example.org/1/", "image": "/1.png", "content_html": "<img src='/x.png'>"},
            {"id": "2", "url": "https://j.example.org/2/", "content_html": "<p>t</p><img src='two.png'>"},
        ],
    }
    json_items = parse_feed(json.dumps(feed).encode(), "application/feed+json", "https://j.example.org/feed.json").items
    assert [item.image for item in json_items] == ["https://j.example.org/1.png", "https://j.example.org/2/two.png"]


def test_a_feed_entrys_first_image_is_stored_with_its_post(web_server: WebServer, tmp_path: Path) -> None:
    """Read by `kiji ingest` from a real feed on 127.0.0.1, and shown by `kiji posts --json`."""
    html = post_html(["画像つきの記事です。内容は十分にあります。"]) + '<p><img src="/uploads/figure.png"></p>'
    entries = [Entry("with", "画像つき", html), Entry("without", "画像なし", post_html(["画像のない記事です。"]))]
    web_server.put("/feed", wordpress_rss(web_server.base, entries), "application/rss+xml; charset=UTF-8")
    assert ingest(web_server.url("/feed"), tmp_path).returncode == 0
    images = {post["title"]: post["image"] for post in posts(tmp_path)}
    assert images == {"画像つき": web_server.base + "/uploads/figure.png", "画像なし": None}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus-sample (the posts the fixture was built from)")
def test_the_web_pages_og_image_and_the_markdowns_front_matter_name_the_same_picture(
    web_server: WebServer, tmp_path: Path
) -> None:
    """jekyll-seo-tag wrote each built page's og:image from the post's front matter `image`."""
    web_server.serve_site(FIXTURES / "jekyll")
    site = markdown_site(tmp_path / "site", web_server.base)
    (tmp_path / "web").mkdir()
    (tmp_path / "md").mkdir()
    assert ingest(web_server.url("/"), tmp_path / "web").returncode == 0
    assert ingest(str(site), tmp_path / "md").returncode == 0

    def pictures(folder: Path) -> dict[str, str]:
        found = {str(post["title"]): str(post["image"]) for post in posts(folder)}
        assert all(urlsplit(image).scheme in ("http", "https") for image in found.values()), found
        return {title: urlsplit(image).path for title, image in found.items()}  # the build named another host

    from_markdown = pictures(tmp_path / "md")
    assert len(from_markdown) == len(BUILT_POSTS)
    assert pictures(tmp_path / "web") == from_markdown
    assert all(path.startswith("/assets/images/posts/") for path in from_markdown.values())


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus-sample")
def test_every_sample_post_naming_an_image_gets_it_on_the_blogs_address() -> None:
    """The real blog's posts name `image: "/assets/images/posts/…-ogp.png"`; none has an image in its body."""
    corpus = load_site(CORPUS)
    named = 0
    for path in sorted((CORPUS / "_posts").iterdir()):
        post = parse_post(path.read_bytes(), f"_posts/{path.name}", corpus)
        stated = post.front_matter.get("image")
        if isinstance(stated, str) and stated.startswith("/"):
            named += 1
            assert post.image is not None and post.image.isascii(), path.name  # a Japanese path percent-encoded
            assert unquote(post.image) == corpus.url + stated, path.name
        else:
            assert post.image is None and stated is None, path.name
    assert named > 0
