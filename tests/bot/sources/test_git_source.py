"""A git repository as a source, against real `git daemon` and `git http-backend` servers on 127.0.0.1.

Every test goes through `ingest_source` into a real SQLite store, the way the bot and `kiji ingest` do.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
from git_server import BlogRemote, BlogRemotes, GitDaemon, GitHttpServer, closed_port, git

from bot.services.ingest import ingest_source, source_version_key
from bot.sources.base import SourceError
from bot.sources.git import GitSource
from bot.sources.specs import GitSpec, parse_spec
from bot.store import Store

NEW_POST = """---
title: "A post pushed today"
tags: [rockets]
---
Rockets went up today, and the writing pipeline pushed this post about them.
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def git_spec(url: str) -> GitSpec:
    spec = parse_spec(f"git+{url}")
    assert isinstance(spec, GitSpec)
    return spec


def source_for(url: str, tmp_path: Path, clock: Clock | None = None, **options: object) -> GitSource:
    return GitSource(git_spec(url), tmp_path / "data", clock=clock or Clock(), **options)  # type: ignore[arg-type]


def first_seen(db: Path) -> dict[str, float]:
    with sqlite3.connect(db) as raw:
        return dict(raw.execute("SELECT path, first_seen_at FROM posts").fetchall())


async def paths_and_ids(store: Store) -> dict[str, int]:
    return {post.path: post.id for post in await store.all_posts()}


@pytest.fixture(scope="session")
def folder_paths(corpus_site: Path) -> set[str]:
    """The posts Jekyll itself read from the corpus sample: a clone of it must give the store the same."""
    return {post["path"] for post in json.loads((corpus_site / "jekyll-posts.json").read_text(encoding="utf-8"))}


async def test_a_blog_ingests_from_git_daemon_like_the_same_folder(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path, folder_paths: set[str]
) -> None:
    remote = blog_remotes.blog()
    source = source_for(git_daemon.url(remote), tmp_path)
    report = await ingest_source(store, source)
    assert set(await paths_and_ids(store)) == folder_paths
    assert report.added == len(folder_paths) > 50
    assert await store.get_meta(source_version_key(source.name)) == remote.head()
    status = source.status()
    assert (status.last_error, status.next_retry_at, status.extra["partial clone"]) == (None, None, "yes")
    assert status.last_success_at == Clock().now


async def test_a_blog_ingests_from_smart_http(
    git_http: GitHttpServer, blog_remotes: BlogRemotes, store: Store, tmp_path: Path, folder_paths: set[str]
) -> None:
    remote = blog_remotes.blog()
    await ingest_source(store, source_for(git_http.url(remote), tmp_path))
    assert set(await paths_and_ids(store)) == folder_paths


async def test_only_what_ingest_reads_is_checked_out(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(posts=6)
    remote.write("assets/huge-photo.jpg", "not really a photo, but not a post either\n")
    remote.commit("A photo")
    source = source_for(git_daemon.url(remote), tmp_path)
    await source.poll(None)
    assert (source.site_root / "_config.yml").is_file()
    assert len(list((source.site_root / "_posts").iterdir())) == len(remote.posts())
    assert not (source.site_root / "assets").exists()
    assert not (source.site_root / "README.md").exists()


async def test_add_change_rename_delete_reach_the_store_without_a_walk(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(posts=6)
    source = source_for(git_daemon.url(remote), tmp_path)
    await ingest_source(store, source)
    before = await paths_and_ids(store)
    seen_before = first_seen(tmp_path / "kiji.sqlite3")
    posts = remote.posts()
    changed, renamed, deleted = (f"_posts/{name}" for name in posts[:3])
    renamed_to = "_posts/2031-01-01-" + posts[1][11:]  # a date fixed in the file name
    remote.write("_posts/2031-02-02-pushed-today.md", NEW_POST)
    remote.write(changed, remote.read(changed).replace("\n---\n", "\n---\nAn added first line.\n\n", 1))
    remote.rename(renamed, renamed_to)
    remote.delete(deleted)
    remote.commit("A day's work")

    changes = await source.poll(await store.get_meta(source_version_key(source.name)))  # ingest asks the same
    assert changes.complete and changes.renamed == ((renamed, renamed_to),)
    assert set(changes.changed) == {"_posts/2031-02-02-pushed-today.md", changed}
    assert changes.removed == (deleted,)

    report = await ingest_source(store, source)

    after = await paths_and_ids(store)
    assert (report.added, report.updated, report.removed, report.unchanged, report.failed) == (1, 2, 1, 0, [])
    assert after[renamed_to] == before[renamed] and renamed not in after
    assert deleted not in after and after[changed] == before[changed]
    assert "_posts/2031-02-02-pushed-today.md" in after
    seen_after = first_seen(tmp_path / "kiji.sqlite3")
    assert seen_after[renamed_to] == seen_before[renamed]
    assert await store.get_meta(source_version_key(source.name)) == remote.head()


async def test_a_force_push_of_the_same_tree_announces_nothing(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(posts=6)
    remote.write("_posts/2031-02-02-pushed-today.md", NEW_POST)
    remote.commit("A post")
    source = source_for(git_daemon.url(remote), tmp_path)
    await ingest_source(store, source)
    before, seen = await paths_and_ids(store), first_seen(tmp_path / "kiji.sqlite3")
    subscription = await store.subscribe(1, 2, "text")

    rewritten = remote.rewrite_history()
    report = await ingest_source(store, source)

    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 0)
    assert await paths_and_ids(store) == before and first_seen(tmp_path / "kiji.sqlite3") == seen
    assert await store.enqueue_new_posts(max_burst=10) == {}
    assert await store.deliveries() == [] and subscription.id
    assert await store.get_meta(source_version_key(source.name)) == rewritten


async def test_a_rewritten_history_with_other_posts_changes_only_those(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(posts=6)
    remote.write("_posts/2031-02-02-pushed-today.md", NEW_POST)
    remote.commit("A post that will be taken back")
    source = source_for(git_daemon.url(remote), tmp_path)
    await ingest_source(store, source)
    before, seen = await paths_and_ids(store), first_seen(tmp_path / "kiji.sqlite3")

    remote.delete("_posts/2031-02-02-pushed-today.md")
    remote.write("_posts/2031-03-03-another.md", NEW_POST.replace("today", "instead"))
    remote.rewrite_history("History rewritten: one post swapped for another")
    report = await ingest_source(store, source)

    after = await paths_and_ids(store)
    assert (report.added, report.removed, report.unchanged) == (1, 1, 0)
    assert set(after) == (set(before) - {"_posts/2031-02-02-pushed-today.md"}) | {"_posts/2031-03-03-another.md"}
    seen_after = first_seen(tmp_path / "kiji.sqlite3")
    assert all(seen_after[path] == seen[path] for path in after if path in seen)


async def test_a_remote_that_goes_away_fails_with_a_reason_backs_off_and_recovers(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    clock = Clock()
    remote = blog_remotes.blog(posts=6)
    source = source_for(git_daemon.url(remote), tmp_path, clock)
    await ingest_source(store, source)
    kept = await paths_and_ids(store)
    remote.take_away()

    with pytest.raises(SourceError, match="the repository is not there") as failure:
        await ingest_source(store, source)
    assert source.display in str(failure.value)
    status = source.status()
    assert status.last_error == str(failure.value) and status.next_retry_at == clock.now + 30
    assert await paths_and_ids(store) == kept and (source.site_root / "_config.yml").is_file()

    runs = source.runner.runs
    with pytest.raises(SourceError, match="next attempt in 30 s"):
        await ingest_source(store, source)
    assert source.runner.runs == runs  # backing off: git was not run at all

    clock.now += 30
    with pytest.raises(SourceError):
        await ingest_source(store, source)
    assert source.status().next_retry_at == clock.now + 60  # the wait doubles

    remote.bring_back()
    remote.write("_posts/2031-02-02-pushed-today.md", NEW_POST)
    remote.commit("Back, with a post")
    source.request_poll()  # a push webhook: try now
    report = await ingest_source(store, source)
    assert (report.added, report.unchanged) == (1, 0)
    assert source.status().last_error is None and source.status().next_retry_at is None


async def test_an_unreachable_server_says_so(tmp_path: Path) -> None:
    source = source_for(f"git://127.0.0.1:{closed_port()}/blog.git", tmp_path)
    with pytest.raises(SourceError, match="cannot be reached"):
        await source.poll(None)
    assert not source.checkout.exists()


async def test_a_repository_that_is_not_a_jekyll_site_is_refused_clearly(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.not_a_site()
    source = source_for(git_daemon.url(remote), tmp_path)
    with pytest.raises(SourceError, match=r"is not a Jekyll site: no _config.yml, no _posts folder"):
        await ingest_source(store, source)
    assert await store.all_posts() == []


async def test_a_subdirectory_and_a_ref_pick_the_site(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(subdirectory="site", posts=6)
    url = git_daemon.url(remote)
    missing = GitSource(git_spec(f"{url}#subdirectory=docs"), tmp_path / "other", clock=Clock())
    with pytest.raises(SourceError, match="has no folder 'docs'"):
        await missing.poll(None)
    no_ref = GitSource(git_spec(f"{url}@gh-pages"), tmp_path / "third", clock=Clock())
    with pytest.raises(SourceError, match="no branch, tag or commit named 'gh-pages'"):
        await no_ref.poll(None)

    source = GitSource(git_spec(f"{url}@main#subdirectory=site"), tmp_path / "data", clock=Clock())
    await ingest_source(store, source)
    assert set(await paths_and_ids(store)) == {f"_posts/{name}" for name in remote.posts()}
    first = remote.posts()[0]
    remote.rename(f"site/_posts/{first}", f"site/_posts/2031-01-01-{first[11:]}")
    remote.write("README.md", "Outside the site: not a change ingest hears of.\n")
    remote.commit("Move a post")
    changes = await source.poll(await store.get_meta(source_version_key(source.name)))
    assert changes.renamed == ((f"_posts/{first}", f"_posts/2031-01-01-{first[11:]}"),)
    assert (changes.changed, changes.removed) == ((), ())


async def test_a_server_without_partial_clone_gets_a_full_clone(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(allow_filter=False, posts=6)
    source = source_for(git_daemon.url(remote), tmp_path)
    await ingest_source(store, source)
    assert source.status().extra["partial clone"].startswith("no")
    assert set(await paths_and_ids(store)) == {f"_posts/{name}" for name in remote.posts()}


async def test_an_unknown_version_walks_and_a_no_op_poll_runs_two_git_commands(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(posts=6)
    source = source_for(git_daemon.url(remote), tmp_path)
    await ingest_source(store, source)
    unknown = await source.poll("0" * 40)
    assert (unknown.complete, unknown.version) == (False, remote.head())
    runs = source.runner.runs
    same = await source.poll(remote.head())
    assert (same.complete, same.changed, same.renamed, same.removed) == (True, (), (), ())
    assert source.runner.runs - runs == 2  # fetch and rev-parse: nothing checked out, nothing diffed


async def test_a_restarted_bot_reuses_its_clone(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(posts=6)
    await ingest_source(store, source_for(git_daemon.url(remote), tmp_path))
    remote.write("_posts/2031-02-02-pushed-today.md", NEW_POST)
    remote.commit("A post while the bot was down")
    again = source_for(git_daemon.url(remote), tmp_path)
    report = await ingest_source(store, again)
    assert (report.added, report.unchanged) == (1, 0)
    restarted = source_for(git_daemon.url(remote), tmp_path)
    same = await restarted.poll(remote.head())
    assert (same.complete, same.changed) == (True, ())
    assert restarted.runner.runs == 4  # set-url, fetch, rev-parse, ls-tree: nothing checked out again


async def test_a_renamed_default_branch_is_followed(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(posts=3)
    source = source_for(git_daemon.url(remote), tmp_path)
    await ingest_source(store, source)
    remote.write("_posts/2031-02-02-pushed-today.md", NEW_POST)
    remote.commit("A post")
    git("push", "--quiet", "origin", "HEAD:refs/heads/trunk", cwd=remote.work)
    git("symbolic-ref", "HEAD", "refs/heads/trunk", cwd=remote.bare)
    git("push", "--quiet", "origin", "--delete", "main", cwd=remote.work)
    report = await ingest_source(store, source)
    assert (report.added, report.unchanged) == (1, 0)


def test_blog_remote_helpers_are_real(blog_remotes: BlogRemotes) -> None:
    remote: BlogRemote = blog_remotes.blog(posts=2)
    assert remote.bare.is_dir() and remote.pushes == 1


async def test_a_server_that_never_answers_is_given_up_on(tmp_path: Path) -> None:
    """A socket that accepts connections and says nothing: git would wait forever; the time limit stops it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        source = source_for(f"git://127.0.0.1:{port}/blog.git", tmp_path, clone_timeout=0.5)
        with pytest.raises(SourceError, match=r"git clone took longer than 0.5 s and was stopped"):
            await source.poll(None)
    assert source.status().last_error is not None and not source.checkout.exists()


async def test_a_damaged_clone_is_cloned_again_and_the_repository_around_it_left_alone(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> None:
    """The data dir often sits in the bot's own checkout: git must not climb from a broken clone into it."""
    outer = tmp_path / "bot-checkout"
    git("init", "--quiet", str(outer))
    remote = blog_remotes.blog(posts=2)
    source = GitSource(git_spec(git_daemon.url(remote)), outer / "data", clock=Clock())
    await source.poll(None)
    for item in (source.checkout / ".git").iterdir():  # .git is still a folder, but no repository any more
        if item.is_dir():
            shutil.rmtree(item)
        else:
            item.unlink()
    changes = await source.poll(None)  # cloned again
    assert changes.version == remote.head() and len(list((source.site_root / "_posts").iterdir())) == 2
    assert git("remote", cwd=outer).stdout == ""  # the outer repository got no remote, no fetch


async def test_a_tag_or_a_commit_pins_the_blog(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    remote = blog_remotes.blog(posts=2)
    pinned = remote.head()
    git("tag", "v1", cwd=remote.work)
    git("push", "--quiet", "origin", "v1", cwd=remote.work)
    remote.write("_posts/2031-02-02-pushed-today.md", NEW_POST)
    remote.commit("After the tag")
    for ref, data in (("v1", "tagged"), (pinned, "commit")):
        source = GitSource(git_spec(f"{git_daemon.url(remote)}@{ref}"), tmp_path / data, clock=Clock())
        changes = await source.poll(None)
        assert changes.version == pinned
        assert not (source.site_root / "_posts" / "2031-02-02-pushed-today.md").exists()
