"""A post page is extracted and cleaned in one worker call; neither shortcut may change what is stored.

Two shortcuts of a backfill are held here to the long way round, on every post page of the web
fixtures (the jekyll site, Japanese, and the Hugo site): trafilatura's `fast` mode (no second
opinion from readability and jusText) and the page parsed once for its metadata and its text; and
the cleaned text and tokens made in the extracting worker, which must be what ingest would have
made of the same article, and must not be used for an article that has changed since.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import trafilatura
from web_server import FIXTURES

from bot.content.article_text import derive_text
from bot.services.article_ingest import prepare_article
from bot.sources.base import ArticleEntry
from bot.sources.web import entry_version
from bot.sources.web_markdown import OPTIONS, markdown_of
from bot.sources.web_pages import read_page, read_page_and_text

POST_PAGES = sorted(
    page
    for site in ("jekyll", "hugo")
    for page in (FIXTURES / site).rglob("index.html")
    if read_page(page.read_bytes(), "http://blog.test/post/", "utf-8") is not None
)


def _page_id(page: Path) -> str:
    return page.relative_to(FIXTURES).parent.as_posix()


def test_the_fixtures_hold_post_pages_of_both_sites() -> None:
    sites = {page.relative_to(FIXTURES).parts[0] for page in POST_PAGES}
    assert sites == {"jekyll", "hugo"} and len(POST_PAGES) >= 6


@pytest.mark.parametrize("page", POST_PAGES, ids=_page_id)
def test_a_post_page_s_text_is_trafilatura_s_full_extraction_of_it(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    article = read_page(page.read_bytes(), "http://blog.test/post/", "utf-8")
    full = trafilatura.extract(
        html,
        output_format="markdown",
        include_formatting=True,
        include_links=False,
        include_images=False,
        include_tables=True,
        include_comments=False,
        favor_recall=True,
    )
    assert article is not None and full
    assert article.body == full


@pytest.mark.parametrize("page", POST_PAGES, ids=_page_id)
def test_the_text_cleaned_where_the_page_was_extracted_is_what_ingest_makes_of_the_article(page: Path) -> None:
    article, derived = read_page_and_text(page.read_bytes(), "http://blog.test/post/", "utf-8")
    assert article is not None and derived is not None
    assert derived == derive_text(article.title, article.body)
    carried = prepare_article(ArticleEntry("k", "v1", "k", article, archive=True, derived=derived), "k", silent=True)
    afresh = prepare_article(ArticleEntry("k", "v1", "k", article, archive=True), "k", silent=True)
    assert carried == afresh
    assert carried.text and carried.body_tokens


def test_a_derivation_of_another_text_is_not_taken_for_the_article() -> None:
    first, second = [page for page in POST_PAGES if page.relative_to(FIXTURES).parts[0] == "jekyll"][:2]
    article, _ = read_page_and_text(first.read_bytes(), "http://blog.test/a/", "utf-8")
    _, other = read_page_and_text(second.read_bytes(), "http://blog.test/b/", "utf-8")
    assert article is not None and other is not None
    record = prepare_article(ArticleEntry("k", "v1", "k", article, derived=other), "k", silent=False)
    assert record.text == derive_text(article.title, article.body).text != other.text
    # the same body under an edited title is another article too: its title tokens change
    retitled = dataclasses.replace(article, title="A title edited since")
    own = derive_text(article.title, article.body)
    record = prepare_article(ArticleEntry("k", "v2", "k", retitled, derived=own), "k", silent=False)
    assert record.title_tokens == derive_text(retitled.title, retitled.body).title_tokens != own.title_tokens


MARKUP_FRAGMENTS = [
    "<h2>Stars *and* under_scores</h2><p>a [bracket] and a <b>bold</b> word, x &lt; y, a ~tilde~ and `ticks`</p>",
    "<p>math \\(a_1 * b\\) inline and a path C:\\dir\\file_name</p><pre><code>code_with *stars* [x]</code></pre>",
    "<p>only math: \\(x + y\\) here</p><p>plain prose with nothing to escape, 日本語の文章です。</p>"
    "<ul><li>one</li><li>two_2</li></ul>",
    "<p>emphasis <i>nested <b>bold_x</b></i> then <code>inline_code</code> tail_text *</p>"
    "<blockquote>quote [q]</blockquote>",
    "<table><tr><th>h*</th><th>k</th></tr><tr><td>a_b</td><td>[c]</td></tr></table><p>\\[ x^2 \\] block</p>",
]


@pytest.mark.parametrize("fragment", MARKUP_FRAGMENTS)
@pytest.mark.parametrize("fast", [True, False])
def test_the_cheaper_markdown_is_trafilatura_s_own_on_text_its_escaping_changes(fragment: str, fast: bool) -> None:
    # the serializer's escaping pass is skipped for texts it would not change: text it does change
    # (CommonMark specials, LaTeX spans, code kept verbatim) must come out as trafilatura makes it
    document = f"<html><body><article>{fragment * 3}</article></body></html>"
    expected = trafilatura.extract(document, output_format="markdown", fast=fast, **OPTIONS)
    assert expected and "\\" in expected
    assert markdown_of(document, fast=fast) == expected
    assert markdown_of(trafilatura.load_html(document), fast=fast) == expected


@pytest.mark.parametrize("page", POST_PAGES, ids=_page_id)
def test_a_page_s_version_made_from_its_archive_line_is_its_article_s(page: Path) -> None:
    # a backfill makes the version from the dict it writes as the page's JSON line, and a resumed
    # one from that line read back: both must be the article's own, or posts would look edited
    article = read_page(page.read_bytes(), "http://blog.test/post/", "utf-8")
    assert article is not None
    said = dataclasses.asdict(article)
    read_back = json.loads(json.dumps(said, ensure_ascii=False))
    assert entry_version(article, said) == entry_version(article) == entry_version(article, read_back)
    assert entry_version(dataclasses.replace(article, body=article.body + " edited")) != entry_version(article)
    # the picture is not part of it: a page's new og:image is not an edit
    assert entry_version(article, {**said, "image": "http://blog.test/other.png"}) == entry_version(article)
