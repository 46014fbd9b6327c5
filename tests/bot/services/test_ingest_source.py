"""Ingest driven by a source: a folder is walked, a source that knows its changes is read only where they are."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from factories import write_post

from bot.services.ingest import ingest_source, source_version_key
from bot.sources.base import Changes
from bot.sources.folder import FolderSource
from bot.store.database import Store


class ListedChanges:
    """A source that, like git, says exactly which files changed: each poll hands out the next Changes."""

    def __init__(self, root: Path, *changes: Changes) -> None:
        self.site_root = root
        self.name = "listed"
        self.display = str(root)
        self._changes = list(changes)
        self.asked_since: list[str | None] = []

    async def poll(self, since: str | None) -> Changes:
        self.asked_since.append(since)
        return self._changes.pop(0)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "_posts").mkdir(parents=True)
    (root / "_config.yml").write_text("title: Blog\nurl: https://blog.example.org\n", encoding="utf-8")
    write_post(root / "_posts", "2025-01-01-first.md", "First", "The first body about rockets.")
    write_post(root / "_posts", "2025-01-02-second.md", "Second", "The second body about boats.")
    return root


def first_seen(db: Path, path: str) -> float:
    with sqlite3.connect(db) as raw:
        return raw.execute("SELECT first_seen_at FROM posts WHERE path = ?", (path,)).fetchone()[0]


async def test_a_folder_source_walks_and_records_no_version(site: Path, store: Store) -> None:
    source = FolderSource(site)
    first = await ingest_source(store, source)
    assert (first.added, first.failed) == (2, [])
    (site / "_posts" / "2025-01-01-first.md").unlink()
    write_post(site / "_posts", "2025-01-03-third.md", "Third", "A third body.")
    second = await ingest_source(store, source)
    assert (second.added, second.removed, second.unchanged) == (1, 1, 1)
    assert await store.get_meta(source_version_key(source.name)) is None


async def test_complete_changes_read_only_the_named_files(site: Path, store: Store, tmp_path: Path) -> None:
    source = ListedChanges(
        site,
        Changes(version="v1"),  # a first clone: walk
        Changes(version="v2", complete=True, changed=("_posts/2025-01-02-second.md",)),
    )
    await ingest_source(store, source)
    assert await store.get_meta(source_version_key("listed")) == "v1"
    # Both files change on disk, but the source names only one: the other is not read.
    write_post(site / "_posts", "2025-01-01-first.md", "First, edited", "Edited rockets.")
    write_post(site / "_posts", "2025-01-02-second.md", "Second, edited", "Edited boats.")
    report = await ingest_source(store, source)
    assert (report.added, report.updated, report.removed, report.failed) == (0, 1, 0, [])
    assert {p.title for p in await store.all_posts()} == {"First", "Second, edited"}
    assert source.asked_since == [None, "v1"]
    assert await store.get_meta(source_version_key("listed")) == "v2"


async def test_a_rename_with_edited_bytes_keeps_the_posts_identity(site: Path, store: Store, tmp_path: Path) -> None:
    old, new = "_posts/2025-01-01-first.md", "_posts/2025-01-05-first-fixed-date.md"
    source = ListedChanges(site, Changes(version="v1"), Changes(version="v2", complete=True, renamed=((old, new),)))
    await ingest_source(store, source)
    before = await store.get_post_by_path(old)
    assert before is not None
    seen = first_seen(tmp_path / "kiji.sqlite3", old)
    subscription = await store.subscribe(1, 2, "text")
    assert await store.backfill(subscription.id, 5) == 2
    (site / "_posts" / "2025-01-01-first.md").rename(site / "_posts" / "2025-01-05-first-fixed-date.md")
    write_post(site / "_posts", "2025-01-05-first-fixed-date.md", "First, renamed", "Rockets, edited too.")

    report = await ingest_source(store, source)

    assert (report.added, report.updated, report.removed, report.failed) == (0, 1, 0, [])
    after = await store.get_post_by_path(new)
    assert after is not None and after.id == before.id and after.title == "First, renamed"
    assert await store.get_post_by_path(old) is None
    assert first_seen(tmp_path / "kiji.sqlite3", new) == seen
    ledger = {d.post_path for d in await store.deliveries(post_id=before.id)}
    assert ledger == {new}


async def test_removed_paths_leave_the_store(site: Path, store: Store) -> None:
    gone = "_posts/2025-01-02-second.md"
    source = ListedChanges(site, Changes(version="v1"), Changes(version="v2", complete=True, removed=(gone,)))
    await ingest_source(store, source)
    (site / gone).unlink()
    report = await ingest_source(store, source)
    assert (report.removed, report.failed) == (1, [])
    assert [p.title for p in await store.all_posts()] == ["First"]


async def test_a_new_config_makes_complete_changes_walk(site: Path, store: Store) -> None:
    source = ListedChanges(site, Changes(version="v1"), Changes(version="v2", complete=True, changed=("_config.yml",)))
    await ingest_source(store, source)
    (site / "_config.yml").write_text("title: Blog\nurl: https://blog.example.org\npermalink: /:title/\n")
    await ingest_source(store, source)
    assert {p.url for p in await store.all_posts()} == {"/first/", "/second/"}


async def test_a_plain_posts_folder_names_its_files_without_posts_prefix(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    write_post(folder, "2025-01-01-a.md", "A", "Alpha body.")
    source = ListedChanges(
        folder, Changes(version="v1"), Changes(version="v2", complete=True, changed=("2025-01-01-a.md",))
    )
    await ingest_source(store, source)
    write_post(folder, "2025-01-01-a.md", "A, edited", "Alpha body edited.")
    report = await ingest_source(store, source)
    assert (report.updated, report.failed) == (1, [])
    assert [p.path for p in await store.all_posts()] == ["_posts/2025-01-01-a.md"]


async def test_a_crash_before_the_version_is_recorded_reports_the_changes_again(site: Path, store: Store) -> None:
    """The version is written only after the batches: an ingest that fails leaves the old one."""
    source = ListedChanges(
        site,
        Changes(version="v1"),
        Changes(version="v2", complete=True, changed=("_posts/2025-01-02-second.md",)),
    )
    await ingest_source(store, source)
    write_post(site / "_posts", "2025-01-02-second.md", "Second, edited", "Edited boats.")
    await store.close()  # the store goes away mid-way: writing the batch fails
    with pytest.raises(Exception, match="not connected"):
        await ingest_source(store, source)
    await store.connect()
    assert await store.get_meta(source_version_key("listed")) == "v1"
