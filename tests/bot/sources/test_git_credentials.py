"""A private repository behind HTTP Basic auth: the password works, and is never shown or kept anywhere of ours."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import pytest
from git_server import GIT_HTTP_PASSWORD, GIT_HTTP_USER, BlogRemotes, GitHttpServer

from bot.services.ingest import ingest_source
from bot.sources.base import SourceError
from bot.sources.git import GitSource
from bot.sources.git_runner import GitCredentials, explain, scrub
from bot.sources.specs import GitSpec, parse_spec
from bot.store import Store


def git_source(url: str, data: Path) -> GitSource:
    spec = parse_spec(f"git+{url}")
    assert isinstance(spec, GitSpec)
    return GitSource(spec, data)


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


async def test_an_authenticated_remote_works_and_its_password_is_never_shown(
    git_http_auth: GitHttpServer,
    blog_remotes: BlogRemotes,
    store: Store,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    remote = blog_remotes.blog(posts=6)
    url = git_http_auth.url(remote, f"{GIT_HTTP_USER}:{quote(GIT_HTTP_PASSWORD)}")
    source = git_source(url, tmp_path / "data")
    report = await ingest_source(store, source)
    assert (report.added, report.failed) == (6, [])
    assert any(seen.authorized and seen.status == 200 for seen in git_http_auth.requests)

    remote.write("_posts/2031-02-02-private.md", "---\ntitle: Private\n---\nA post from a private repository.\n")
    remote.commit("A post")
    assert (await ingest_source(store, source)).added == 1

    remote.take_away()
    with pytest.raises(SourceError) as gone:
        await ingest_source(store, source)
    wrong = git_source(git_http_auth.url(remote, f"{GIT_HTTP_USER}:not-{GIT_HTTP_PASSWORD}"), tmp_path / "other")
    remote.bring_back()
    with pytest.raises(SourceError, match="authentication failed") as refused:
        await wrong.poll(None)

    await store.close()
    shown = [
        str(gone.value),
        str(refused.value),
        repr(source),
        source.display,
        source.name,
        repr(source.status()),
        repr(wrong.status()),
        caplog.text,
        *(record.getMessage() for record in caplog.records),
    ]
    assert GIT_HTTP_PASSWORD in url
    for text in shown:
        assert GIT_HTTP_PASSWORD not in text and quote(GIT_HTTP_PASSWORD) not in text
        assert GIT_HTTP_USER not in text  # userinfo, not only the password, stays out
    assert files_holding(tmp_path, GIT_HTTP_PASSWORD.encode()) == []  # the store, its WAL, the clone's .git
    assert files_holding(tmp_path, quote(GIT_HTTP_PASSWORD).encode()) == []


def test_credentials_leave_the_url_and_git_output_is_scrubbed() -> None:
    credentials = GitCredentials.from_url("https://bot:tok%40en@example.org/blog.git")
    assert credentials.url == "https://example.org/blog.git"
    assert (credentials.username, credentials.password) == ("bot", "tok@en")
    assert "tok@en" not in " ".join(credentials.config_args())
    said = "fatal: unable to access 'https://bot:tok%40en@example.org/': tok@en rejected"
    assert scrub(said, credentials.secrets()) == "fatal: unable to access 'https://example.org/': *** rejected"
    token_as_user = GitCredentials.from_url("https://ghp_T0ken@github.com/owner/blog.git")
    assert token_as_user.url == "https://github.com/owner/blog.git"
    assert token_as_user.config_args()[:2] != ["-c", "credential.helper="]  # the user's helpers still asked first
    assert scrub("ghp_T0ken was refused", token_as_user.secrets()) == "*** was refused"
    ssh = GitCredentials.from_url("ssh://git@example.org/blog.git")
    assert (ssh.url, ssh.config_args(), ssh.env()) == ("ssh://git@example.org/blog.git", [], {})


def test_git_messages_are_explained() -> None:
    assert explain("fatal: Could not resolve host: example.invalid\n").startswith("the server's name does not")
    assert "git: fatal: weird" in explain("hint: x\nfatal: weird\n")


async def test_a_token_written_as_the_user_works_and_stays_out_of_the_clone(
    blog_remotes: BlogRemotes, store: Store, tmp_path: Path, git_served_root: Path
) -> None:
    token = "ghp-Token-As-User-123"
    server = GitHttpServer(git_served_root, credentials=(token, ""))
    server.start()
    try:
        remote = blog_remotes.blog(posts=3)
        source = git_source(server.url(remote, token), tmp_path / "data")
        assert (await ingest_source(store, source)).added == 3
    finally:
        server.stop()
    await store.close()
    assert files_holding(tmp_path, token.encode()) == []
    assert token not in source.display and token not in repr(source.status())
