"""SPEC parsing: pip's git+URL form, folders, the reserved feed form, and credentials never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sources.specs import FolderSpec, GitSpec, SpecError, WebSpec, parse_spec, parse_specs, redact, repository_key

TOKEN = "ghp_s3cr3tT0ken"


@pytest.mark.parametrize(
    ("spec", "url", "ref", "subdirectory"),
    [
        ("git+https://github.com/owner/blog.git", "https://github.com/owner/blog.git", None, None),
        ("git+https://github.com/owner/blog.git@main", "https://github.com/owner/blog.git", "main", None),
        (
            "git+https://github.com/owner/blog@v1.2#subdirectory=docs/site",
            "https://github.com/owner/blog",
            "v1.2",
            "docs/site",
        ),
        (
            "git+ssh://git@example.org:2222/srv/b.git@feature/x",
            "ssh://git@example.org:2222/srv/b.git",
            "feature/x",
            None,
        ),
        ("git+git@github.com:owner/blog.git", "git@github.com:owner/blog.git", None, None),
        ("git+git@github.com:owner/b.git@gh-pages#subdirectory=site", "git@github.com:owner/b.git", "gh-pages", "site"),
        ("git+git://127.0.0.1:9418/blog.git", "git://127.0.0.1:9418/blog.git", None, None),
        ("git+file:///srv/git/blog.git@0123abc", "file:///srv/git/blog.git", "0123abc", None),
        (f"git+https://me:{TOKEN}@example.org/blog.git@main", f"https://me:{TOKEN}@example.org/blog.git", "main", None),
    ],
)
def test_git_specs_split_like_pip(spec: str, url: str, ref: str | None, subdirectory: str | None) -> None:
    parsed = parse_spec(spec)
    assert parsed == GitSpec(url=url, ref=ref, subdirectory=subdirectory)


def test_a_folder_is_a_folder_spec(tmp_path: Path) -> None:
    parsed = parse_spec(str(tmp_path))
    assert isinstance(parsed, FolderSpec)
    assert parsed.path == tmp_path
    assert parsed.name == tmp_path.resolve().as_posix()


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("https://example.org/feed.xml", "https://example.org/feed.xml"),
        ("http://Example.org/blog/", "http://example.org/blog"),
        ("https://reader:s3cret@example.org:8443/blog/#top", "https://example.org:8443/blog"),
    ],
)
def test_web_addresses_are_blogs_on_the_web_named_without_credentials(spec: str, name: str) -> None:
    parsed = parse_spec(spec)
    assert isinstance(parsed, WebSpec)
    assert parsed.name == name
    assert "s3cret" not in parsed.display and "s3cret" not in repr(parsed)


def test_a_web_address_without_a_host_says_how_to_write_one() -> None:
    with pytest.raises(SpecError, match="has no host"):
        parse_spec("https:///feed.xml")


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("ssh://git@example.org/blog.git", "starts with git+"),
        ("git+ftp://example.org/blog.git", "not a scheme git clones"),
        ("git+https://example.org/blog.git@--upload-pack=evil", "not a branch, tag or commit"),
        ("git+https://example.org/blog.git@a..b", "not a branch, tag or commit"),
        ("git+https://example.org/blog.git#subdirectory=../etc", "must be a folder inside"),
        ("git+https://example.org/blog.git#subdirectory=/abs", "must be a folder inside"),
        ("git+https://example.org/blog.git#egg=blog", "only #subdirectory=DIR"),
        ("git+https://example.org/", "no repository path"),
        ("git+", "no repository URL"),
        ("git+-oProxyCommand=evil", "cannot start with '-'"),
        ("   ", "empty source SPEC"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, complaint: str) -> None:
    with pytest.raises(SpecError, match=complaint):
        parse_spec(spec)


def test_credentials_never_reach_display_name_repr_or_errors() -> None:
    spec = parse_spec(f"git+https://me:{TOKEN}@example.org/owner/blog.git@main#subdirectory=site")
    assert isinstance(spec, GitSpec)
    for shown in (spec.display, spec.name, repr(spec), spec.repository_key):
        assert TOKEN not in shown
        assert "me:" not in shown
    assert spec.display == "git+https://example.org/owner/blog.git@main#subdirectory=site"
    with pytest.raises(SpecError) as caught:
        parse_spec(f"git+https://me:{TOKEN}@example.org/blog.git@bad..ref")
    assert TOKEN not in str(caught.value)
    web = parse_spec(f"https://me:{TOKEN}@example.org/feed.xml")
    for shown in (web.display, web.name, repr(web)):
        assert TOKEN not in shown


def test_redact_scrubs_every_url_in_free_text() -> None:
    text = (
        f"fatal: unable to access 'https://me:{TOKEN}@example.org/blog.git/': 403\n"
        f"also http://{TOKEN}@other.example/x and ssh://git@host/y and p@ss@host: https://u:p@ss@h.example/z"
    )
    scrubbed = redact(text)
    assert TOKEN not in scrubbed
    assert "https://example.org/blog.git/" in scrubbed
    assert "http://other.example/x" in scrubbed
    assert "ssh://host/y" in scrubbed
    assert "https://h.example/z" in scrubbed


def test_names_are_stable_across_credentials_and_schemes() -> None:
    names = {
        parse_spec(spec).name
        for spec in (
            "git+https://github.com/Owner/blog.git",
            f"git+https://x:{TOKEN}@github.com/Owner/blog",
            "git+ssh://git@GitHub.com/Owner/blog.git",
            "git+git@github.com:Owner/blog.git",
        )
    }
    assert names == {"github.com/Owner/blog"}
    assert parse_spec("git+https://github.com/o/b@dev#subdirectory=site").name == "github.com/o/b@dev#site"
    assert parse_spec("git+file:///srv/git/blog.git").name == "/srv/git/blog"


def test_repository_keys_match_the_urls_webhooks_send() -> None:
    keys = {
        repository_key(url)
        for url in (
            "https://github.com/Owner/Blog.git",
            "git@github.com:owner/blog.git",
            "ssh://git@github.com:22/owner/blog.git",
            "https://github.com/owner/blog",
            "https://github.com/owner/blog/",
        )
    }
    assert keys == {"github.com/owner/blog"}
    assert repository_key("https://github.com/owner/other.git") != "github.com/owner/blog"


def test_parse_specs_splits_on_whitespace_and_refuses_duplicates(tmp_path: Path) -> None:
    specs = parse_specs(f"  {tmp_path}\n git+https://example.org/a.git\tgit+https://example.org/b.git ")
    assert [spec.display for spec in specs] == [
        str(tmp_path),
        "git+https://example.org/a.git",
        "git+https://example.org/b.git",
    ]
    with pytest.raises(SpecError, match="listed twice"):
        parse_specs("git+https://example.org/a.git git+ssh://git@example.org/a")
