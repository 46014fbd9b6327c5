"""The git servers the git-source tests rely on: they serve, authenticate, rewrite and disappear for real."""

from __future__ import annotations

from pathlib import Path

from git_server import GIT_HTTP_PASSWORD, GIT_HTTP_USER, BlogRemotes, GitDaemon, GitHttpServer, git


def clone(url: str, target: Path, check: bool = True):
    return git("clone", "--quiet", url, str(target), check=check)


def test_git_daemon_serves_the_corpus_blog(git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path) -> None:
    remote = blog_remotes.blog()
    clone(git_daemon.url(remote), tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy" / "_posts").iterdir()) == remote.posts()
    assert len(remote.posts()) > 50


def test_http_backend_serves_and_counts_requests(git_http: GitHttpServer, blog_remotes: BlogRemotes, tmp_path: Path):
    remote = blog_remotes.blog()
    before = len(git_http.requests)
    clone(git_http.url(remote), tmp_path / "copy")
    assert (tmp_path / "copy" / "_config.yml").is_file()
    assert len(git_http.requests) > before


def test_http_auth_refuses_without_the_password(
    git_http_auth: GitHttpServer, blog_remotes: BlogRemotes, tmp_path: Path
) -> None:
    remote = blog_remotes.not_a_site()
    refused = clone(git_http_auth.url(remote), tmp_path / "refused", check=False)
    assert refused.returncode != 0
    assert git_http_auth.requests[-1].status == 401
    clone(git_http_auth.url(remote, f"{GIT_HTTP_USER}:{GIT_HTTP_PASSWORD}"), tmp_path / "allowed")
    assert (tmp_path / "allowed" / "src" / "tool.py").is_file()


def test_rewritten_history_shares_no_commit_but_keeps_the_tree(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> None:
    remote = blog_remotes.blog()
    remote.write("_posts/2030-01-01-new.md", "---\ntitle: New\n---\nBody.\n")
    old = remote.commit("A post")
    new = remote.rewrite_history()
    clone(git_daemon.url(remote), tmp_path / "copy")
    log = git("log", "--format=%H", cwd=tmp_path / "copy").stdout.split()
    assert log == [new] and old not in log
    assert (tmp_path / "copy" / "_posts" / "2030-01-01-new.md").is_file()


def test_a_remote_taken_away_comes_back(git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path) -> None:
    remote = blog_remotes.not_a_site()
    remote.take_away()
    assert clone(git_daemon.url(remote), tmp_path / "gone", check=False).returncode != 0
    remote.bring_back()
    clone(git_daemon.url(remote), tmp_path / "back")
    assert (tmp_path / "back" / "README.md").is_file()
