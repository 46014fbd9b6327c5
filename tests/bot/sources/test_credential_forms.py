"""Issue 21, point 4: a password in any form of address is never shown, logged or kept.

Each case uses a password that appears nowhere afterwards: not in what `kiji ingest` and `kiji
sources` print, not in the log, not in any file under the test's folder (the store's database and
its WAL read as bytes, as `strings` would, and a clone's `.git/config`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

import pytest
from factories import write_post
from git_server import closed_port
from kiji_cli import files_holding, kiji

from bot.services.blogs import ingest_all
from bot.sources.git import GitSource
from bot.sources.git_runner import GitCredentials, scrub
from bot.sources.specs import GitSpec, SpecError, parse_spec, redact
from bot.store import Store

PASSWORD = "Pw-9c1e-never-shown"
LEFT, RIGHT = "Left-4b2e-secret", "Right-8d0f-secret"  # the two halves of a password around a "#", "?" or "/"


def _nowhere(secrets: list[str], texts: list[str], root: Path) -> None:
    for secret in secrets:
        for form in dict.fromkeys((secret, quote(secret, safe=""))):
            for text in texts:
                assert form not in text
            assert files_holding(root, form.encode()) == []


@pytest.mark.parametrize(
    ("spec", "complaint", "secrets"),
    [
        pytest.param("git+git://writer:{pw}@127.0.0.1:{port}/b.git", "git:// URL has no login", [PASSWORD], id="git"),
        pytest.param("git+ssh://writer:{pw}@127.0.0.1:{port}/blog.git", "ssh logs in with a key", [PASSWORD], id="ssh"),
        pytest.param("git+writer:{pw}@127.0.0.1:blog.git@main", "ssh logs in with a key", [PASSWORD], id="scp-like"),
        pytest.param("git+file://writer:{pw}@localhost/srv/b.git", "file:// URL has no login", [PASSWORD], id="file"),
        pytest.param("git+https://writer:{left}#{right}@127.0.0.1:{port}/b.git", "unencoded", [LEFT, RIGHT], id="hash"),
        pytest.param("git+https://writer:{left}?{right}@127.0.0.1:{port}/b", "unencoded", [LEFT, RIGHT], id="query"),
        pytest.param("git+https://writer:{left}/{right}@127.0.0.1:{port}/b", "unencoded", [LEFT, RIGHT], id="slash"),
        pytest.param("git+https://{left}?{right}@127.0.0.1:{port}/b.git", "unencoded", [LEFT, RIGHT], id="token-user"),
    ],
)
def test_a_password_git_could_never_use_is_refused_unseen(
    spec: str, complaint: str, secrets: list[str], tmp_path: Path
) -> None:
    spec = spec.format(pw=PASSWORD, left=LEFT, right=RIGHT, port=closed_port())
    env = {"KIJI_DATA_DIR": str(tmp_path / "data"), "KIJI_DB_PATH": str(tmp_path / "k.db")}
    ingested = kiji("ingest", "--source", spec, "--json", env=env)
    assert ingested.returncode == 2 and complaint in ingested.stderr, ingested.stderr
    listed = kiji("sources", "--source", spec, env=env)
    assert listed.returncode == 2 and complaint in listed.stderr
    _nowhere(secrets, [ingested.stdout, ingested.stderr, listed.stdout, listed.stderr], tmp_path)


@pytest.mark.parametrize(
    "password", [pytest.param(PASSWORD, id="plain"), pytest.param(f"{LEFT}#{RIGHT}/?@", id="encoded-reserved")]
)
def test_a_usable_password_is_used_and_kept_nowhere_when_the_server_is_down(password: str, tmp_path: Path) -> None:
    spec = f"git+https://writer:{quote(password, safe='')}@127.0.0.1:{closed_port()}/blog.git"
    env = {"KIJI_DATA_DIR": str(tmp_path / "data"), "KIJI_DB_PATH": str(tmp_path / "k.db")}
    # A store that exists already (a failed ingest of a new one leaves none): the failure is recorded in it.
    blog = tmp_path / "local"
    blog.mkdir()
    write_post(blog, "2025-07-01-local.md", "手元の記事", "本文です。")
    assert kiji("ingest", "--posts", str(blog), env=env).returncode == 0
    ingested = kiji("ingest", "--source", spec, "--json", env=env)
    assert ingested.returncode == 2
    listed = kiji("sources", "--source", spec, "--json", env=env)
    [entry] = [entry for entry in json.loads(listed.stdout) if entry["last_error"]]  # not the local blog
    assert "the server cannot be reached" in entry["last_error"]  # the failure went all the way to the store
    _nowhere([password, *password.split("#")], [ingested.stdout, ingested.stderr, listed.stdout], tmp_path)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("git://writer:{pw}@127.0.0.1:{port}/blog.git", id="git"),
        pytest.param("ssh://writer:{pw}@127.0.0.1:{port}/blog.git", id="ssh"),
        pytest.param("writer:{pw}@127.0.0.1:blog.git", id="scp-like"),
        pytest.param("https://writer:{pw}@127.0.0.1:{port}/blog.git", id="https"),
    ],
)
async def test_whatever_git_prints_passes_one_redaction_that_knows_the_secret(
    url: str, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The runner does not rely on the parser: handed an address with a password, git's words lose it."""
    caplog.set_level(logging.DEBUG)
    source = GitSource(GitSpec(url=url.format(pw=PASSWORD, port=closed_port())), tmp_path / "data")
    [outcome] = await ingest_all(store, [source])
    assert outcome.error is not None  # git ran, and failed
    listed = await store.sources()
    await store.close()
    shown = [outcome.error, caplog.text, source.display, repr(source.status()), repr(listed)]
    _nowhere([PASSWORD], shown, tmp_path)


def test_git_messages_of_every_form_are_scrubbed() -> None:
    """git's own wordings, as git 2.39 prints them for each address form."""
    git_said = [
        f"fatal: unable to look up writer:{PASSWORD}@127.0.0.1:1 (port 9418) (Name or service not known)",
        f"fatal: unable to access 'https://writer:{PASSWORD}@example.org/blog.git/': 403",
        f"fatal: unable to access 'https://writer:{LEFT}/{RIGHT}@example.org/blog.git/': bad URL",
        f"writer:{PASSWORD}@example.org:blog.git: Permission denied (publickey).",
        f"ssh: connect to host writer:{PASSWORD}@example.org port 22: Connection refused",
    ]
    for said in git_said:
        cleaned = redact(said)
        assert PASSWORD not in cleaned and LEFT not in cleaned and RIGHT not in cleaned, cleaned
        assert "example.org" in cleaned or "127.0.0.1" in cleaned  # where it failed is still said
    assert redact("git@github.com:owner/blog.git: Permission denied") == "github.com:owner/blog.git: Permission denied"
    # a SPEC's display and a ref are no userinfo
    for kept in ("git+github.com:owner/b.git@gh-pages: x", "git+https://h:8443/b.git@v1", "HEAD@{0}: fetch"):
        assert redact(kept) == kept
    # the secret itself goes even where no pattern sees it (a quote inside the password)
    tricky = GitCredentials.from_url(f"git://writer:{PASSWORD}'x@127.0.0.1/blog.git")
    assert PASSWORD not in scrub(f"error: {PASSWORD}'x was refused", tricky.secrets())


def test_the_parser_names_the_form_and_keeps_its_secret() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(f"git+https://writer:{LEFT}#{RIGHT}@example.org/blog.git")
    assert str(caught.value).startswith("git+https://example.org/blog.git: ")
    assert "%23" in str(caught.value)
    spec = parse_spec(f"git+https://writer:{quote(LEFT + '#' + RIGHT, safe='')}@example.org/blog.git")
    assert isinstance(spec, GitSpec) and spec.display == "git+https://example.org/blog.git"
    assert GitCredentials.from_url(spec.url).password == f"{LEFT}#{RIGHT}"
    scp = parse_spec("git+git@github.com:owner/blog.git@main")
    assert scp.display == "git+github.com:owner/blog.git@main"  # the login name is not shown either
