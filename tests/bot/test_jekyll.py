"""Kiji must read every post exactly as Jekyll 4.3 did, and fail only with PostError."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content.textnorm import normalize_key
from bot.sources.permalinks import slugify, titleize_slug
from bot.sources.post_error import PostError
from bot.sources.post_files import MAX_POST_BYTES, find_post_files
from bot.sources.post_reader import parse_post
from bot.sources.site_config import Site, load_site

# --------------------------------------------------------------------------- helpers


def make_site(tmp_path: Path, config: str = "") -> Site:
    (tmp_path / "_config.yml").write_text(config, encoding="utf-8")
    return load_site(tmp_path)


NY_SITE_CONFIG = 'url: "https://blog.example.org"\nbaseurl: "/blog"\ntimezone: America/New_York\n'


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path, NY_SITE_CONFIG)


def post(site: Site, front: str, name: str = "_posts/2024-01-05-hello-world.md", body: str = "Body.\n"):
    return parse_post(f"---\n{front}---\n{body}".encode(), name, site)


def reason_of(site: Site, data: bytes, name: str = "_posts/2024-01-05-x.md") -> str:
    with pytest.raises(PostError) as info:
        parse_post(data, name, site)
    assert info.value.path == name
    assert str(info.value) == f"{name}: {info.value.reason}"
    return info.value.reason


# --------------------------------------------------------------------------- agreement with Jekyll


def _agreement(root: Path) -> None:
    expected = {p["path"]: p for p in json.loads((root / "jekyll-posts.json").read_text(encoding="utf-8"))}
    site = load_site(root)
    parsed = {rel: parse_post(path.read_bytes(), rel, site) for path, rel in find_post_files(site)}
    assert set(expected) <= set(parsed), f"posts Jekyll published that Kiji did not find: {set(expected) - set(parsed)}"
    mismatches = []
    for rel, want in expected.items():
        got = parsed[rel]
        mine = {
            "path": got.path,
            "id": got.id,
            "url": got.url,
            "abs": got.abs_url,
            "slug": got.slug,
            "title": got.title,
            "date": got.date.isoformat(),
            "author": got.author,
        }
        for key, value in mine.items():
            if value != want[key]:
                mismatches.append((rel, key, value, want[key]))
        for key in ("tags", "categories"):
            mine_set = {normalize_key(x) for x in getattr(got, key)}
            if mine_set != {normalize_key(x) for x in want[key]}:
                mismatches.append((rel, key, getattr(got, key), want[key]))
        assert got.published, rel
    assert mismatches == []
    now = dt.datetime.now(dt.UTC)
    for rel in set(parsed) - set(expected):
        # Jekyll left it out: Kiji must be able to tell why.
        assert not parsed[rel].published or parsed[rel].date > now, rel


def test_agrees_with_jekyll_on_the_corpus_sample(corpus_site: Path) -> None:
    _agreement(corpus_site)
    assert len(find_post_files(load_site(corpus_site))) == 61


def test_agrees_with_jekyll_on_the_edge_site(edge_site: Path) -> None:
    _agreement(edge_site)


def test_edge_site_posts_jekyll_left_out_are_recognisable(edge_site: Path) -> None:
    site = load_site(edge_site)
    files = dict((rel, path) for path, rel in find_post_files(site))
    draft = parse_post(
        files["_posts/2024-01-15-draft-unpublished.md"].read_bytes(), "_posts/2024-01-15-draft-unpublished.md", site
    )
    assert draft.published is False
    future = parse_post(files["_posts/2099-01-01-far-future.md"].read_bytes(), "_posts/2099-01-01-far-future.md", site)
    assert future.published is True and future.date.year == 2099
    assert "news/_posts/2024-01-18-folder-category.md" in files


def test_load_site_reads_the_config(edge_site: Path) -> None:
    site = load_site(edge_site)
    assert (site.title, site.url, site.baseurl) == ("Edge cases", "https://blog.example.org", "/blog")
    assert site.timezone_name == "America/New_York"
    assert site.permalink == "/:categories/:year/:month/:day/:title:output_ext"
    assert site.future is False
    assert "node_modules" in site.exclude


# --------------------------------------------------------------------------- site loading and finding


def test_find_post_files_walks_like_jekyll(tmp_path: Path) -> None:
    site = make_site(tmp_path, "exclude: [skipme]\n")
    for rel in [
        "_posts/2024-01-01-a.md",
        "_posts/sub/2024-01-02-b.markdown",
        "_posts/_hidden.md",
        "_posts/.dot.md",
        "_posts/2024-01-03-c.md~",
        "_posts/image.png",
        "news/_posts/2024-01-04-d.md",
        "news/deeper/_posts/2024-01-05-e.md",
        "_drafts/_posts/2024-01-06-f.md",
        ".hidden/_posts/2024-01-07-g.md",
        "skipme/_posts/2024-01-08-h.md",
        "node_modules/_posts/2024-01-09-i.md",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n---\n", encoding="utf-8")
    rels = [rel for _path, rel in find_post_files(site)]
    assert rels == [
        "_posts/2024-01-01-a.md",
        "_posts/sub/2024-01-02-b.markdown",
        "news/_posts/2024-01-04-d.md",
        "news/deeper/_posts/2024-01-05-e.md",
    ]
    assert all(path.is_absolute() and path.is_file() for path, _rel in find_post_files(site))


def _write_posts(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


NON_MARKDOWN_POSTS = {
    "_posts/2024-01-14-html-post.html": b"---\ntitle: h\n---\n<p>Hi</p>\n",
    "_posts/2024-01-15-text.txt": b"---\ntitle: t\n---\nBody\n",
    "_posts/2024-01-17-data.json": b"---\ntitle: j\n---\nBody\n",
    "_posts/2024-01-18-cover.jpg": b"\xff\xd8\xff\xe0binary\x00\x01",
    "_posts/2024-01-19-style.scss": b"---\ntitle: s\n---\na { b: c }\n",
    "_posts/2024-01-20-UP.HTML": b"---\ntitle: up\n---\nBody\n",
    "_posts/2024-01-21-noext": b"---\ntitle: n\n---\nBody\n",
    "_posts/notdated.html": b"---\ntitle: nd\n---\nBody\n",
    "_posts/2024-01-22-x.md": b"---\ntitle: m\n---\nBody\n",
}


@pytest.mark.parametrize(
    ("config", "txt_url"),
    [("", "/2024/01/15/text.txt"), ('markdown_ext: "md,txt"\n', "/2024/01/15/text.html")],
)
def test_dated_files_that_are_not_markdown_are_posts_too(tmp_path: Path, config: str, txt_url: str) -> None:
    # Jekyll 4.3.1 published exactly these, at these URLs (the image is not UTF-8, so skipped).
    _write_posts(tmp_path, NON_MARKDOWN_POSTS)
    site = make_site(tmp_path, 'url: "https://x.org"\n' + config)
    urls = {rel: parse_post(path.read_bytes(), rel, site).url for path, rel in find_post_files(site)}
    assert urls == {
        "_posts/2024-01-14-html-post.html": "/2024/01/14/html-post.html",
        "_posts/2024-01-15-text.txt": txt_url,
        "_posts/2024-01-17-data.json": "/2024/01/17/data.json",
        "_posts/2024-01-19-style.scss": "/2024/01/19/style.css",
        "_posts/2024-01-20-UP.HTML": "/2024/01/20/UP.HTML",
        "_posts/2024-01-22-x.md": "/2024/01/22/x.html",
    }


def test_markdown_ext_is_split_on_commas_only(tmp_path: Path) -> None:
    # Jekyll 4.3.1 with markdown_ext "md, TXT": ". txt" matches nothing, so .txt stays .txt.
    _write_posts(tmp_path, NON_MARKDOWN_POSTS)
    site = make_site(tmp_path, 'markdown_ext: "md, TXT"\npermalink: /:title:output_ext\n')
    assert post(site, "", name="_posts/2024-01-15-text.txt").url == "/text.txt"
    assert post(site, "", name="_posts/2024-01-22-x.md").url == "/x.html"


def test_plain_posts_folder_keeps_to_markdown(tmp_path: Path) -> None:
    (tmp_path / "2024-03-01-plain.md").write_text("---\n---\n", encoding="utf-8")
    (tmp_path / "2024-03-02-notes.txt").write_text("---\n---\n", encoding="utf-8")
    (tmp_path / "2024-03-03-page.html").write_text("---\n---\n", encoding="utf-8")
    assert [rel for _p, rel in find_post_files(load_site(tmp_path))] == ["_posts/2024-03-01-plain.md"]


def test_plain_posts_folder_is_the_posts_of_a_default_site(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "2024-03-01-plain.md").write_text("---\ntitle: Plain\n---\n", encoding="utf-8")
    (tmp_path / "sub" / "2024-03-02-nested.markdown").write_text("---\n---\n", encoding="utf-8")
    site = load_site(tmp_path)
    assert site.posts_only and site.permalink.endswith(":title:output_ext") and site.timezone_name == "UTC"
    files = find_post_files(site)
    assert [rel for _p, rel in files] == ["_posts/2024-03-01-plain.md", "_posts/sub/2024-03-02-nested.markdown"]
    parsed = parse_post(files[0][0].read_bytes(), files[0][1], site)
    assert (parsed.url, parsed.id, parsed.abs_url) == (
        "/2024/03/01/plain.html",
        "/2024/03/01/plain",
        "/2024/03/01/plain.html",
    )


def test_load_site_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_site(tmp_path / "nope")
    (tmp_path / "_config.yml").write_text("title: [unclosed\n", encoding="utf-8")
    with pytest.raises(PostError) as info:
        load_site(tmp_path)
    assert info.value.path == str(tmp_path / "_config.yml") and "line" in info.value.reason
    (tmp_path / "_config.yml").write_text("- a list\n", encoding="utf-8")
    with pytest.raises(PostError, match="mapping"):
        load_site(tmp_path)
    (tmp_path / "_config.yml").write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(PostError, match="unknown timezone"):
        load_site(tmp_path)


# --------------------------------------------------------------------------- permalinks and URLs


@pytest.mark.parametrize(
    ("permalink", "url"),
    [
        ("date", "/tech/2024/01/05/hello-world.html"),
        ("pretty", "/tech/2024/01/05/hello-world/"),
        ("ordinal", "/tech/2024/005/hello-world.html"),
        ("none", "/tech/hello-world.html"),
        ("weekdate", "/tech/2024/W01/Fri/hello-world.html"),
        ("/:year/:i_month/:i_day/:short_year/:hour:minute:second/:slug", "/2024/1/5/24/093007/hello-world"),
        ("/:categories/:title/", "/tech/hello-world/"),
        ("/:month-:day/:title_", "/01-05/hello-world_"),
        ("/:short_month/:long_month/:long_day/:y_day/:week/:w_year/:w_day", "/Jan/January/Friday/005/01/2024/5"),
    ],
)
def test_permalink_styles_and_placeholders(tmp_path: Path, permalink: str, url: str) -> None:
    site = make_site(tmp_path, f"url: https://x.org\ntimezone: UTC\npermalink: {permalink!r}\n")
    parsed = post(site, "categories: Tech\ndate: 2024-01-05 09:30:07 +0000\n")
    assert parsed.url == url
    assert parsed.abs_url == "https://x.org" + url


def test_default_permalink_is_date(tmp_path: Path) -> None:
    site = make_site(tmp_path, "")
    assert post(site, "").url == "/2024/01/05/hello-world.html"


def test_collection_permalink_wins_and_front_matter_permalink_wins_over_all(tmp_path: Path) -> None:
    site = make_site(tmp_path, "permalink: none\ncollections:\n  posts:\n    permalink: /p/:title/\n")
    assert post(site, "").url == "/p/hello-world/"
    assert post(site, "permalink: /custom/:year/here.html\n").url == "/custom/2024/here.html"


def test_unknown_placeholder_is_a_post_error(tmp_path: Path) -> None:
    site = make_site(tmp_path, "permalink: /:nonsense/:title/\n")
    with pytest.raises(PostError, match=":nonsense"):
        post(site, "")


def test_categories_in_urls_are_lowercased_and_percent_encoded(site: Site) -> None:
    parsed = post(site, "categories: [Deep Dive, Reviews, 日本]\ntags: [a]\n")
    assert parsed.url == "/deep%20dive/reviews/%E6%97%A5%E6%9C%AC/2024/01/05/hello-world.html"
    assert parsed.id == "/deep%20dive/reviews/%E6%97%A5%E6%9C%AC/2024/01/05/hello-world"
    assert parsed.categories == ("Deep Dive", "Reviews", "日本")


def test_non_ascii_slug_is_encoded_in_url_but_not_in_id(site: Site) -> None:
    parsed = post(site, "", name="_posts/2024-01-16-日本語 スラッグ!.md")
    assert parsed.slug == "日本語 スラッグ!"
    assert parsed.url == "/2024/01/16/%E6%97%A5%E6%9C%AC%E8%AA%9E-%E3%82%B9%E3%83%A9%E3%83%83%E3%82%B0!.html"
    assert parsed.id == "/2024/01/16/日本語 スラッグ!"
    assert parsed.title == "日本語 スラッグ!"
    assert parsed.abs_url == "https://blog.example.org/blog" + parsed.url


def test_abs_url_is_nfc_normalised_like_addressable(site: Site) -> None:
    decomposed = "が".replace("が", "か\u3099")  # what macOS file names hold
    parsed = post(site, "", name=f"_posts/2024-01-16-{decomposed}.md")
    assert parsed.url == "/2024/01/16/%E3%81%8B%E3%82%99.html"
    assert parsed.abs_url == "https://blog.example.org/blog/2024/01/16/%E3%81%8C.html"


def test_trailing_hyphen_and_dots_in_slug(site: Site) -> None:
    parsed = post(site, "", name="_posts/2024-01-05-ends-with-hyphen-...md")
    assert parsed.slug == "ends-with-hyphen-"
    assert parsed.url == "/2024/01/05/ends-with-hyphen.html"
    assert parsed.id == "/2024/01/05/ends-with-hyphen-"
    assert parsed.title == "Ends With Hyphen"


def test_slug_override_and_title_from_file_name(site: Site) -> None:
    parsed = post(site, "slug: Custom Slug\n", name="_posts/2024-01-05-file-name-slug.md")
    assert parsed.slug == "Custom Slug"
    assert parsed.url == "/2024/01/05/Custom-Slug.html"
    assert parsed.title == "File Name Slug"


def test_slugify_and_titleize_follow_jekyll() -> None:
    assert slugify("Hello, World! (2024)") == "hello-world-2024"
    assert slugify("Hello, World! (2024)", "pretty", cased=True) == "Hello,-World!-(2024)"
    assert slugify("--a  b--") == "a-b"
    assert slugify("Café 日本") == "café-日本"
    assert titleize_slug("hello-wORLD-") == "Hello World"
    assert titleize_slug("-a--b") == " A  B"


def test_greek_capital_sigma_always_lowers_to_medial_sigma(tmp_path: Path) -> None:
    # Ruby's downcase and capitalize have no final-sigma rule; Jekyll 4.3.1 gave these.
    site = make_site(tmp_path, "permalink: /:title/:slug/:name/\n")
    parsed = post(site, "", name="_posts/2024-01-05-ΣΑΣ.md")
    assert parsed.url == "/%CE%A3%CE%91%CE%A3/%CF%83%CE%B1%CF%83/2024-01-05-%CF%83%CE%B1%CF%83/"
    assert (parsed.id, parsed.title) == ("/%CE%A3%CE%91%CE%A3/%CF%83%CE%B1%CF%83/ΣΑΣ", "Σασ")
    assert post(site, "", name="_posts/2024-01-06-ΟΔΟΣ-ΣΑΣ.md").title == "Οδοσ Σασ"
    site = make_site(tmp_path, "permalink: /:categories/:slugified_categories/:title/\n")
    cats = post(site, "categories: [ΣΑΣ, ΟΔΟΣ.ΑΣ]\n", name="_posts/2024-01-05-ΣΑΣ.md")
    assert cats.url == (
        "/%CF%83%CE%B1%CF%83/%CE%BF%CE%B4%CE%BF%CF%83.%CE%B1%CF%83"
        "/%CF%83%CE%B1%CF%83/%CE%BF%CE%B4%CE%BF%CF%83-%CE%B1%CF%83/%CE%A3%CE%91%CE%A3/"
    )
    assert slugify("ΟΔΟΣ ΣΑΣ") == "οδοσ-σασ" and titleize_slug("ΣΑΣ") == "Σασ"


# --------------------------------------------------------------------------- dates


def test_date_rules(site: Site) -> None:
    assert post(site, "").date.isoformat() == "2024-01-05T00:00:00-05:00"
    assert post(site, "date: 2024-01-09\n").date.isoformat() == "2024-01-09T00:00:00-05:00"
    late = post(site, "date: 2024-01-11 02:30:00 +0000\n")
    assert late.date.isoformat() == "2024-01-10T21:30:00-05:00" and late.url == "/2024/01/10/hello-world.html"
    assert post(site, "date: 2024-01-12 23:59:59\n").date.isoformat() == "2024-01-12T18:59:59-05:00"
    # A quoted string without an offset is wall time in the site's zone (Ruby's Time.parse).
    assert post(site, 'date: "2024-01-12 23:59"\n').date.isoformat() == "2024-01-12T23:59:00-05:00"
    assert post(site, 'date: "2024-07-01 12:00:00 +0900"\n').date.isoformat() == "2024-06-30T23:00:00-04:00"
    assert post(site, 'date: "2024-07-01T12:00:00Z"\n').date.isoformat() == "2024-07-01T08:00:00-04:00"
    # Ruby's Time.parse does not know JST: Jekyll 4.3.1 reads it as local time.
    assert post(site, 'date: "2024/07/01 12:00 JST"\n').date.isoformat() == "2024-07-01T12:00:00-04:00"


def test_future_posts_are_kept(site: Site) -> None:
    parsed = post(site, "", name="_posts/2999-01-01-later.md")
    assert parsed.published and parsed.date.year == 2999


@pytest.mark.parametrize(
    ("front", "name", "needle"),
    [
        ("", "_posts/2025-02-30-x.md", "impossible date 2025-02-30 in file name"),
        ("date: 2025-02-30\n", "_posts/2025-02-01-x.md", "impossible date '2025-02-30' in front matter"),
        ('date: "2025-02-30 10:00"\n', "_posts/2025-02-01-x.md", "impossible date"),
        ('date: "next tuesday"\n', "_posts/2025-02-01-x.md", "unrecognised date"),
        ("date:\n", "_posts/2025-02-01-x.md", "'date' is empty"),
        ('date: "2025-02-01 25:00"\n', "_posts/2025-02-01-x.md", "impossible time"),
        ("date: !!timestamp nonsense\n", "_posts/2025-02-01-x.md", "impossible date 'nonsense'"),
    ],
)
def test_bad_dates(site: Site, front: str, name: str, needle: str) -> None:
    assert needle in reason_of(site, f"---\n{front}---\n".encode(), name)


def test_fractions_of_a_second_are_dropped(site: Site) -> None:
    # Jekyll 4.3.1 (it reparses date.to_s): whole seconds, for timestamps and quoted strings alike.
    assert post(site, "date: 2024-01-05T10:00:00.123Z\n").date.isoformat() == "2024-01-05T05:00:00-05:00"
    assert post(site, "date: '2024-01-05 10:00:00.5 +01:00'\n").date.isoformat() == "2024-01-05T04:00:00-05:00"
    assert post(site, "date: '2024-01-05 10:00:00.456'\n").date.isoformat() == "2024-01-05T10:00:00-05:00"


def test_repeated_fall_back_hour_is_standard_time(site: Site) -> None:
    # Jekyll 4.3.1 (America/New_York): the second, standard-time 01:30 on 2024-11-03.
    assert post(site, "date: '2024-11-03 01:30'\n").date.isoformat() == "2024-11-03T01:30:00-05:00"
    assert post(site, "date: 2024-11-03 01:30\n").date.isoformat() == "2024-11-03T01:30:00-05:00"
    # ... while a wall time in the spring-forward gap moves on an hour, as Jekyll's does.
    assert post(site, "date: '2024-03-10 02:30'\n").date.isoformat() == "2024-03-10T03:30:00-04:00"


@pytest.mark.parametrize(
    ("config", "date", "expected"),
    [
        # What Jekyll 4.3.1 built for each: Ruby's Time.parse knows only Time::ZoneOffset
        # (UTC Z UT GMT EST EDT CST CDT MST MDT PST PDT and military letters) and the
        # local zone's own abbreviation; any other zone name is read as local time.
        ("", "2024-01-05 08:00:00 JST", "2024-01-05T08:00:00+00:00"),
        ("", "2024-01-05 08:00:00 KST", "2024-01-05T08:00:00+00:00"),
        ("", "2024-01-05 08:00:00 BST", "2024-01-05T08:00:00+00:00"),
        ("", "2024-01-05 08:00:00 A", "2024-01-05T07:00:00+00:00"),
        ("", "2024-01-05 08:00:00 M", "2024-01-04T20:00:00+00:00"),
        ("", "2024-01-05 08:00:00 Y", "2024-01-05T20:00:00+00:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 CEST", "2024-01-05T10:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 MSK", "2024-01-05T10:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 GMT+2", "2024-01-05T10:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 America/New_York", "2024-01-05T10:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 +9", "2024-01-05T10:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 +0900", "2024-01-05T00:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 +09:00 JST", "2024-01-04T20:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 +0900 (JST)", "2024-01-04T20:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 +09:00:00", "2024-01-04T20:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00:00 PST", "2024-01-05T13:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00 PM", "2024-01-05T22:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 10:00pm", "2024-01-05T22:00:00-05:00"),
        (NY_SITE_CONFIG, "2024-01-05 12:00 am", "2024-01-05T00:00:00-05:00"),
        ("timezone: Europe/Berlin\n", "2024-01-05 10:00:00 CEST", "2024-01-05T09:00:00+01:00"),
        ("timezone: Europe/Berlin\n", "2024-07-05 10:00:00 CET", "2024-07-05T11:00:00+02:00"),
        ("timezone: Europe/Berlin\n", "2024-01-05 10:00:00 XYZ", "2024-01-05T10:00:00+01:00"),
        ("timezone: Europe/Berlin\n", "2024-01-05 10:00 P.M. EST", "2024-01-06T04:00:00+01:00"),
        ("timezone: Europe/Berlin\n", "2024-01-05 10:00:00 +09:75", "2024-01-05T00:45:00+01:00"),
    ],
)
def test_zone_names_follow_ruby_time_parse(tmp_path: Path, config: str, date: str, expected: str) -> None:
    site = make_site(tmp_path, config)
    assert post(site, f"date: '{date}'\n", name="_posts/2024-01-05-d.md").date.isoformat() == expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        # Other shapes Ruby's Time.parse reads; each value is what Jekyll 4.3.1 built
        # (timezone America/New_York), including Ruby's own guesses ("1/5/24" is 2001-05-24).
        ("Fri, 05 Jan 2024 10:00:00 +0000", "2024-01-05T05:00:00-05:00"),
        ("Tue, 9 Jan 2024 18:45:00 -0800 (PST)", "2024-01-09T21:45:00-05:00"),
        ("Sat Jan 06 2024 01:00:00 GMT+0900", "2024-01-06T01:00:00-05:00"),
        ("Jan 5, 2024", "2024-01-05T00:00:00-05:00"),
        ("January 5 2024 10:00", "2024-01-05T10:00:00-05:00"),
        ("March 5, 2024, 5:30 PM PDT", "2024-03-05T19:30:00-05:00"),
        ("Friday, January 5, 2024 at 10:00 AM", "2024-01-05T10:00:00-05:00"),
        ("5 Jan 2024", "2024-01-05T00:00:00-05:00"),
        ("25 Dec 99", "1999-12-25T00:00:00-05:00"),
        ("05-Jan-2024", "2024-01-05T00:00:00-05:00"),
        ("Jan 2024", "2024-01-01T00:00:00-05:00"),
        ("2024.01.05", "2024-01-05T00:00:00-05:00"),
        ("20240105", "2024-01-05T00:00:00-05:00"),
        ("31/12/2024", "2024-12-31T00:00:00-05:00"),
        ("1/5/24", "2001-05-24T00:00:00-04:00"),
        ("2024-01-05 1:5", "2024-01-05T01:05:00-05:00"),
        ("2024-01-05 10h00", "2024-01-05T10:00:00-05:00"),
        ("2024-01-05 24:00", "2024-01-06T00:00:00-05:00"),
        ("2024-01-05 10:00:60", "2024-01-05T10:01:00-05:00"),
    ],
)
def test_other_date_shapes_ruby_reads(site: Site, date: str, expected: str) -> None:
    assert post(site, f"date: '{date}'\n").date.isoformat() == expected


def test_a_date_without_a_year_is_refused(site: Site) -> None:
    # Jekyll would take the year of the day it builds; Kiji cannot know it.
    assert "has no year" in reason_of(site, b"---\ndate: 'Jan 5'\n---\n")


def test_unknown_zone_keeps_the_day_of_the_local_time(tmp_path: Path) -> None:
    # Jekyll 4.3.1, no timezone in _config.yml: /2024/01/05/d.html (Kiji used to say 01/04).
    parsed = post(make_site(tmp_path, ""), "date: '2024-01-05 08:00:00 JST'\n", name="_posts/2024-01-05-d.md")
    assert (parsed.url, parsed.id) == ("/2024/01/05/d.html", "/2024/01/05/d")


# --------------------------------------------------------------------------- tags, categories, defaults


def test_tags_and_categories_as_strings_lists_and_singular_keys(tmp_path: Path) -> None:
    site = make_site(tmp_path, "")
    parsed = post(site, "tags: ruby jekyll  static-sites\ncategories: Tech Notes\n")
    assert parsed.tags == ("ruby", "jekyll", "static-sites")
    assert parsed.categories == ("Tech", "Notes")
    singular = post(site, "tag: two words\ncategory: Misc Stuff\ntags: [ignored]\n")
    assert singular.tags == ("two words",)  # Jekyll never splits the singular key
    assert singular.categories == ("Misc Stuff",)
    assert post(site, "tags: AI　導入\n").tags == ("AI　導入",)  # a full-width space does not split
    assert post(site, "tags: [AI, ａｉ, Ai, 2024, true]\n").tags == ("AI", "2024", "true")
    assert post(site, "tags: 5\n").tags == ()  # Jekyll ignores a plural key that is neither list nor string


def test_folder_categories_come_first_and_merge(tmp_path: Path) -> None:
    site = make_site(tmp_path, "")
    parsed = post(site, "categories: Extra news\n", name="news/_posts/2024-01-18-x.md")
    assert parsed.categories == ("news", "Extra")
    assert parsed.url == "/news/extra/2024/01/18/x.html"
    inside = post(site, "", name="_posts/inner/2024-01-18-y.md")
    assert inside.categories == () and inside.url == "/2024/01/18/y.html"


def test_defaults_apply_by_type_and_path(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        """
defaults:
  - scope: {path: "", type: posts}
    values: {author: Everyone, layout: post, sitemap: {priority: 0.8, freq: weekly}}
  - scope: {path: "news", type: posts}
    values: {author: Newsroom, sitemap: {priority: 0.5}}
  - scope: {path: "", type: pages}
    values: {author: Pages Only}
  - scope: {path: ""}
    values: {reading_time: 3}
""",
    )
    plain = post(site, "")
    assert plain.author == "Everyone" and plain.reading_time == 3
    news = post(site, "", name="news/_posts/2024-01-05-n.md")
    assert news.author == "Newsroom"
    assert news.front_matter["sitemap"] == {"priority": 0.5, "freq": "weekly"}
    own = post(site, "author: Me\nreading_time: 7\n")
    assert (own.author, own.reading_time) == ("Me", 7)
    assert post(site, "author:\n").author == "Everyone"  # a null never erases a default


SCOPE_POSTS = (
    "_posts/2024-01-05-top.md",
    "_posts/sub/2024-01-06-nested.md",
    "_posts/subway/2024-01-09-way.md",
    "news/_posts/2024-01-07-news.md",
    "news/deep/_posts/2024-01-08-deep.md",
)
TOP, NESTED, WAY, NEWS, DEEP = SCOPE_POSTS


@pytest.mark.parametrize(
    ("scope_path", "applies_to"),
    [
        # The posts Jekyll 4.3.1 gave the default `author` to, for each `scope: {path: ...}`.
        ("/_posts", set()),  # a leading "/" is not stripped: it matches nothing
        ("/news", set()),
        ("news/", {NEWS, DEEP}),
        ("_po", {TOP, NESTED, WAY}),  # a plain string prefix, not a folder
        ("_posts/*", {TOP, NESTED, WAY}),
        ("_posts/*.md", {TOP}),
        ("*/_posts", {NEWS}),
        ("**/_posts", {TOP, NESTED, WAY, NEWS, DEEP}),
        ("news/**/_posts", {NEWS, DEEP}),
        ("**/deep/**", {DEEP}),
        ("news/*/", {NEWS, DEEP}),
        ("_posts/*/", {NESTED, WAY}),
        ("_posts/s*b", {NESTED, WAY}),  # Dir.glob finds _posts/sub, a string prefix of _posts/subway
        ("_posts/[!s]*", {TOP}),
        ("_posts/{sub,top}*", {NESTED, WAY}),
        ("_posts/*.m", set()),
        ("*", set(SCOPE_POSTS)),
    ],
)
def test_defaults_scope_path_matches_like_jekyll(tmp_path: Path, scope_path: str, applies_to: set[str]) -> None:
    _write_posts(tmp_path, {rel: b"---\n---\n" for rel in SCOPE_POSTS})
    site = make_site(tmp_path, f"defaults:\n  - scope: {{path: '{scope_path}'}}\n    values: {{author: A}}\n")
    got = {rel for path, rel in find_post_files(site) if parse_post(path.read_bytes(), rel, site).author == "A"}
    assert got == applies_to


def test_defaults_precedence_ranks_a_leading_slash_path_without_applying_it(tmp_path: Path) -> None:
    # Jekyll 4.3.1: `/news` applies to nothing, so news posts get the root default.
    site = make_site(
        tmp_path,
        "defaults:\n  - scope: {path: /news}\n    values: {author: NEWS}\n"
        "  - scope: {path: ''}\n    values: {author: ROOT}\n",
    )
    assert post(site, "", name=NEWS).author == "ROOT"


def test_published_and_optional_fields(site: Site) -> None:
    assert post(site, "published: false\n").published is False
    assert post(site, "published: true\n").published is True
    parsed = post(site, "excerpt: Short.\ndescription: Longer.\nreading_time: many\n")
    assert (parsed.excerpt, parsed.description, parsed.reading_time, parsed.author) == ("Short.", "Longer.", None, None)


# --------------------------------------------------------------------------- front matter and encoding


def test_bom_and_crlf(site: Site) -> None:
    data = "\ufeff---\r\ntitle: BOM and CRLF\r\ntags: [crlf]\r\n---\r\nLine one.\r\nLine two.\r\n".encode()
    parsed = parse_post(data, "_posts/2024-01-19-bom-crlf.md", site)
    assert parsed.title == "BOM and CRLF" and parsed.tags == ("crlf",)
    assert parsed.body == "Line one.\nLine two.\n"


def test_front_matter_edges(site: Site) -> None:
    assert post(site, "").title == "Hello World"
    assert parse_post(b"---\n---\n", "_posts/2024-01-05-empty.md", site).body == ""
    dots = parse_post(b"---\ntitle: Dots\n...\nBody\n", "_posts/2024-01-05-d.md", site)
    assert (dots.title, dots.body) == ("Dots", "Body\n")
    quoted = post(site, 'title: "Quotes: \\"and\\" colons"\n')
    assert quoted.title == 'Quotes: "and" colons'
    assert post(site, "title: 2024\n").title == "2024"


def test_broken_inputs_name_the_problem(site: Site) -> None:
    assert "no front matter" in reason_of(site, b"Just text\n")
    assert "no front matter" in reason_of(site, b"---\ntitle: never closed\n")
    yaml_reason = reason_of(site, b"---\ntitle: ok\ntags: [unclosed\n---\n")
    assert "invalid YAML" in yaml_reason and "line 4" in yaml_reason
    assert "must be a mapping" in reason_of(site, b"---\n- a\n- b\n---\n")
    assert "binary file" in reason_of(site, b"---\ntitle: x\n---\n\x00\x01")
    assert "not valid UTF-8 at byte offset 14" in reason_of(site, b"---\ntitle: caf\xe9\n---\n")
    too_big = b"---\n---\n" + b"a" * MAX_POST_BYTES
    assert f"file too large: {len(too_big)} bytes" in reason_of(site, too_big)
    assert "bad file name 'hello.md'" in reason_of(site, b"---\n---\n", "_posts/hello.md")


# --------------------------------------------------------------------------- properties


def _default_site() -> Site:
    return Site(
        root=Path("/nonexistent"),
        title="t",
        url="https://example.org",
        baseurl="/b",
        permalink="/:categories/:year/:month/:day/:title:output_ext",
        timezone=dt.UTC,
        timezone_name="UTC",
        future=False,
        defaults=(),
        exclude=(),
    )


PROPERTY_SITE = _default_site()
names = st.one_of(
    st.text(max_size=40),
    st.builds(lambda d, s: f"_posts/{d.isoformat()}-{s}.md", st.dates(), st.text(max_size=20)),
)
yaml_bits = st.sampled_from(
    ["title: ", "date: ", "tags: ", "categories: ", "tag: ", "slug: ", "permalink: ", "published: ", "- ", "{", "[",
     "]", "}", ": ", "&a ", "*a ", "!!timestamp ", "2024-13-45", "2024-02-30 10:00:00", '"', "'", "\n", "\r\n", "  ",
     "---", "...", "#", "%", "日本", "\ufeff", "null", "~", "!!binary ", "? ", "|", ">"]
)  # fmt: skip
front_matters = st.lists(st.one_of(yaml_bits, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), name=names)
def test_parse_post_raises_only_post_error_on_bytes(data: bytes, name: str) -> None:
    try:
        parse_post(data, name, PROPERTY_SITE)
    except PostError as exc:
        assert exc.reason and exc.path == name
        assert not exc.reason.startswith("cannot read post")  # the last-resort net caught a bug


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(front=front_matters, body=st.text(max_size=50), name=names)
def test_parse_post_raises_only_post_error_on_front_matter(front: str, body: str, name: str) -> None:
    data = f"---\n{front}\n---\n{body}".encode("utf-8", "surrogatepass")
    try:
        parsed = parse_post(data, name, PROPERTY_SITE)
    except PostError as exc:
        assert exc.reason and not exc.reason.startswith("cannot read post")
        return
    assert parsed.date.tzinfo is not None
    assert parsed.url.startswith("/") and "//" not in parsed.url
    assert parsed.abs_url.startswith("https://example.org/b/")
    assert parsed.abs_url.isascii()  # a literal permalink is not escaped, but absolute_url is
    assert "\r" not in parsed.body


@settings(max_examples=200)
@given(
    title=st.text(min_size=1, max_size=30).filter(lambda t: t.strip() == t and t.isprintable()),
    tags=st.lists(st.text(alphabet=st.characters(categories=["L", "Nd"]), min_size=1, max_size=10), max_size=5),
    day=st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(2200, 12, 31)),
)
def test_well_formed_posts_round_trip(title: str, tags: list[str], day: dt.date) -> None:
    front = json.dumps({"title": title, "tags": tags}, ensure_ascii=False)  # JSON is YAML
    parsed = parse_post(f"---\n{front}\n---\nBody".encode(), f"_posts/{day.isoformat()}-post.md", PROPERTY_SITE)
    assert parsed.title == title
    assert {normalize_key(t) for t in parsed.tags} == {normalize_key(t) for t in tags}
    assert len({normalize_key(t) for t in parsed.tags}) == len(parsed.tags)
    assert parsed.date.date() == day
    assert parsed.url == f"/{day:%Y/%m/%d}/post.html"
    assert parsed.body == "Body"


@given(text=st.text(max_size=40))
def test_slugs_never_have_edge_hyphens_or_unsafe_characters(text: str) -> None:
    for slug in (slugify(text), slugify(text, "pretty", cased=True)):
        assert not slug.startswith("-") and not slug.endswith("-") and "--" not in slug
        assert "/" not in slug and " " not in slug


def test_cases_checked_against_jekyll_4_3_1(tmp_path: Path) -> None:
    """Expected values below are what `jekyll build` (Debian 4.3.1) printed for these very files."""
    site = make_site(
        tmp_path,
        'url: "https://Blog.Example.org"\nbaseurl: "/b/"\ntimezone: Asia/Tokyo\n'
        "permalink: /:categories/:year/:month/:day/:title_/\n",
    )
    cats = post(site, "categories: [A, a, B]\ncategory: C\n", name="_posts/2024-01-06-cats.md")
    assert (cats.id, cats.url) == ("/a/b/c/2024/01/06/cats", "/a/b/c/2024/01/06/cats_/")
    assert cats.abs_url == "https://blog.example.org/b/a/b/c/2024/01/06/cats_/"
    assert {normalize_key(c) for c in cats.categories} == {"a", "b", "c"}
    odd = parse_post(b"---\ntitle: x\n...\n\n\nbody\n", "_posts/2024-01-04--a--b.md", site)
    assert (odd.id, odd.url, odd.slug, odd.body) == ("/2024/01/04/-a--b", "/2024/01/04/a-b_/", "-a--b", "body\n")
    local = post(site, 'tags: 5\ndate: "2024-01-02 23:30"\n', name="_posts/2024-01-02-quoted-local.md")
    assert (local.date.isoformat(), local.tags) == ("2024-01-02T23:30:00+09:00", ())
    assert post(site, "published:\n").published is False  # an empty `published` hides the post
    single = post(site, "tag: two words\ncategories:\n", name="news/_posts/2024-01-01-singular.md")
    assert (single.tags, single.categories, single.url) == (("two words",), ("news",), "/news/2024/01/01/singular_/")
