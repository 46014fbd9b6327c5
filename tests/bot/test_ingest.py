"""Incremental ingest on real files and a real SQLite store."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest
from factories import write_post

from bot.services.ingest import CHUNK_SIZE, DERIVED_VERSION, ingest
from bot.sources.post_files import MAX_POST_BYTES
from bot.sources.site_config import load_site
from bot.store import Store
from bot.store.schema import MIGRATIONS, split_statements

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    folder = tmp_path / "posts"
    folder.mkdir()
    write_post(folder, "2025-01-01-first.md", "最初の記事", "推論コストについての本文です。", tags="[AI, LLM]")
    write_post(folder, "2025-01-02-second.md", "Second post", "An English body about RAG.", tags="[RAG]")
    write_post(folder, "2025-01-03-third.md", "三番目", "量子コンピュータの話。", categories="[研究]")
    return folder


async def test_first_ingest_adds_everything_then_nothing_changes(posts: Path, store: Store) -> None:
    site = load_site(posts)
    first = await ingest(store, site)
    assert (first.added, first.updated, first.removed, first.unchanged, first.failed) == (3, 0, 0, 0, [])
    second = await ingest(store, site)
    assert (second.added, second.updated, second.removed, second.unchanged) == (0, 0, 0, 3)
    assert [h.post.title for h in await store.search("推論")] == ["最初の記事"]


async def test_changed_file_is_updated_and_touched_file_is_not(posts: Path, store: Store) -> None:
    site = load_site(posts)
    await ingest(store, site)
    write_post(posts, "2025-01-02-second.md", "Second post, revised", "Now about vector databases.", tags="[DB]")
    third = posts / "2025-01-03-third.md"
    stat = third.stat()
    os.utime(third, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # same bytes, new mtime
    report = await ingest(store, site)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    assert await store.search("RAG") == []
    assert [h.post.title for h in await store.search("vector")] == ["Second post, revised"]
    assert await store.tag_by_key("rag") is None
    # The touched file's new mtime was recorded: the next run skips it without hashing.
    assert (await ingest(store, site)).unchanged == 3


async def test_deleted_file_is_removed(posts: Path, store: Store) -> None:
    site = load_site(posts)
    await ingest(store, site)
    (posts / "2025-01-01-first.md").unlink()
    report = await ingest(store, site)
    assert report.removed == 1
    assert await store.search("推論") == []
    assert len(await store.all_posts()) == 2


async def test_unpublishing_removes_a_stored_post(posts: Path, store: Store) -> None:
    site = load_site(posts)
    await ingest(store, site)
    write_post(posts, "2025-01-02-second.md", "Second post", "An English body about RAG.", published="false")
    report = await ingest(store, site)
    assert report.removed == 1
    assert report.failed == []
    assert {p.title for p in await store.all_posts()} == {"最初の記事", "三番目"}


async def test_future_post_is_stored_as_scheduled(posts: Path, store: Store) -> None:
    write_post(posts, "2999-01-01-later.md", "Later", "Not yet.")
    await ingest(store, load_site(posts))
    later = next(p for p in await store.all_posts() if p.title == "Later")
    assert later.scheduled()
    assert later.as_json()["scheduled"] is True
    assert "Later" not in {p.title for p in await store.latest(10)}


BROKEN: dict[str, tuple[bytes, str]] = {
    "2025-02-01-no-front-matter.md": (b"# Just a heading\n\nNo front matter here.\n", "front matter"),
    "2025-02-02-bad-yaml.md": (b'---\ntitle: "unterminated\ntags: [a\n---\nbody\n', "YAML"),
    "2025-02-03-binary.md": (b"---\ntitle: x\n---\n\x00\x01\x02binary", "binary"),
    "2025-02-04-latin1.md": ("---\ntitle: café\n---\nbody\n".encode("latin-1"), "UTF-8"),
    "2025-02-30-impossible.md": (b"---\ntitle: x\n---\nbody\n", "date"),
}


async def test_broken_posts_are_reported_and_the_rest_stored(posts: Path, store: Store) -> None:
    for name, (data, _) in BROKEN.items():
        (posts / name).write_bytes(data)
    huge = posts / "2025-02-05-huge.md"
    huge.write_bytes(b"---\ntitle: huge\n---\n" + b"a" * (MAX_POST_BYTES + 10))
    report = await ingest(store, load_site(posts))
    assert report.added == 3
    failed = {Path(f.path).name: f.error for f in report.failed}
    assert set(failed) == {*BROKEN, huge.name}
    for name, (_, needle) in BROKEN.items():
        assert needle.lower() in failed[name].lower(), (name, failed[name])
    assert "large" in failed[huge.name].lower() or "size" in failed[huge.name].lower()
    assert all(f.path.endswith(Path(f.path).name) and "/" in f.path for f in report.failed)


async def test_a_post_that_breaks_keeps_its_last_good_version(posts: Path, store: Store) -> None:
    site = load_site(posts)
    await ingest(store, site)
    (posts / "2025-01-03-third.md").write_bytes(b"---\ntitle: [broken\n---\n")
    report = await ingest(store, site)
    assert [Path(f.path).name for f in report.failed] == ["2025-01-03-third.md"]
    assert [h.post.title for h in await store.search("量子")] == ["三番目"]


async def test_corpus_ingests_without_failures(corpus_site: Path, store: Store) -> None:
    report = await ingest(store, load_site(corpus_site))
    assert report.failed == []
    assert report.added == len(list((corpus_site / "_posts").glob("*.md")))


async def test_large_ingest_through_the_process_pool(corpus_site: Path, tmp_path: Path, store: Store) -> None:
    site_root = tmp_path / "site"
    shutil.copytree(corpus_site, site_root)
    originals = sorted((site_root / "_posts").glob("*.md"))
    for copy in range(2):
        for original in originals:
            date, rest = original.name[:11], original.name[11:]
            shutil.copy(original, original.with_name(f"{date}copy{copy}-{rest}"))
    report = await ingest(store, load_site(site_root), workers=2)
    assert report.failed == []
    assert report.added == 3 * len(originals)
    assert len(await store.all_posts()) == 3 * len(originals)


CRASHING_INGEST = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from bot.services.ingest import ingest
    from bot.sources.site_config import load_site
    from bot.store import Store
    from bot.store.schema import MIGRATIONS, split_statements

    async def main():
        store = await Store.open(sys.argv[2])
        def die_after_first_batch(done, total):
            os.kill(os.getpid(), signal.SIGKILL)  # a hard crash: no cleanup, no rollback handler
        site, batch = load_site(sys.argv[1]), int(sys.argv[3])
        await ingest(store, site, progress=die_after_first_batch, workers=1, batch_size=batch)

    asyncio.run(main())
    """
)


async def test_hard_crash_between_batches_leaves_a_consistent_store(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    count = CHUNK_SIZE * 3 + 5
    for i in range(count):
        body = f"本文 marker{i:04d}z です。"
        write_post(folder, f"2025-03-01-post-{i:04d}.md", f"Post {i}", body, tags=f"[t{i % 7}]")
    db_path = tmp_path / "crash.sqlite3"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHING_INGEST,
        str(folder),
        str(db_path),
        str(CHUNK_SIZE),
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == -9, stderr.decode()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = raw.execute("SELECT count(*) FROM posts").fetchone()[0]
        indexed = raw.execute("SELECT count(*) FROM post_search").fetchone()[0]
        tagged = raw.execute("SELECT count(DISTINCT post_id) FROM post_tags").fetchone()[0]
    assert stored == CHUNK_SIZE  # exactly the committed first batch, nothing half-written
    assert indexed == stored == tagged
    store = await Store.open(db_path)
    try:
        report = await ingest(store, load_site(folder))
        assert (report.added, report.unchanged, report.failed) == (count - CHUNK_SIZE, CHUNK_SIZE, [])
        assert len(await store.all_posts()) == count
        assert [h.post.title for h in await store.search("marker0007z")] == ["Post 7"]
    finally:
        await store.close()


async def test_posts_derived_by_another_cleaner_version_are_rederived(
    posts: Path, store: Store, tmp_path: Path
) -> None:
    site = load_site(posts)
    await ingest(store, site)
    # Pretend one post was cleaned and tokenised by an older Kiji.
    with sqlite3.connect(tmp_path / "kiji.sqlite3") as raw:
        raw.execute(
            "UPDATE posts SET derived_version = 'old', outline = '' WHERE path = ?", ("_posts/2025-01-01-first.md",)
        )
    assert await store.paths_with_stale_derivations(DERIVED_VERSION) == {"_posts/2025-01-01-first.md"}
    report = await ingest(store, site)
    assert (report.updated, report.unchanged) == (1, 2)
    assert await store.paths_with_stale_derivations(DERIVED_VERSION) == set()
    post = await store.get_post_by_path("_posts/2025-01-01-first.md")
    assert post is not None
    stored = await store.get_text_and_outline(post.id)
    assert stored is not None and stored.outline != ""


async def test_a_store_from_before_outlines_is_upgraded_and_rederived(posts: Path, tmp_path: Path) -> None:
    """A version-4 store (summaries made at ingest, no outlines) keeps its posts and gets outlines."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as raw:
        for script in MIGRATIONS[:4]:
            for statement in split_statements(script):
                raw.execute(statement)
        raw.execute("PRAGMA user_version = 4")
    store = await Store.open(path)
    try:
        site = load_site(posts)
        assert (await ingest(store, site)).added == 3
        with sqlite3.connect(path) as raw:  # what a version-4 Kiji left behind
            raw.execute("UPDATE posts SET outline = '', derived_version = ''")
        assert len(await store.paths_with_stale_derivations(DERIVED_VERSION)) == 3
        report = await ingest(store, site)
        assert (report.added, report.updated, report.removed) == (0, 3, 0)
        for post in await store.all_posts():
            stored = await store.get_text_and_outline(post.id)
            assert stored is not None and stored.outline.startswith("[")
    finally:
        await store.close()


async def test_a_tag_holding_a_nul_character_does_not_stop_its_batch(posts: Path, store: Store) -> None:
    # YAML's "\0" escape: any character can reach the store as a tag name.
    write_post(posts, "2025-01-04-odd.md", "Odd tags", "変わったタグの記事です。", tags='["a\\0b", AI]')
    report = await ingest(store, load_site(posts))
    assert (report.added, report.failed) == (4, [])
    odd = await store.get_post_by_path("_posts/2025-01-04-odd.md")
    assert odd is not None and odd.tags == ("a\x00b", "AI")
    assert {t.name: t.count for t in await store.tags()}["AI"] == 2


async def test_a_renamed_post_keeps_its_id_and_is_not_announced_again(posts: Path, store: Store) -> None:
    site = load_site(posts)
    await ingest(store, site)
    subscription = await store.subscribe(guild_id=1, channel_id=2, channel_kind="text")
    write_post(posts, "2025-01-04-news.md", "速報", "新しいモデルが出ました。", tags="[AI]")
    await ingest(store, site)
    assert await store.enqueue_new_posts(max_burst=10) == {subscription.id: (1, 0)}
    (pending,) = await store.pending_deliveries()
    await store.mark_sent(pending, message_id=99)
    before = await store.get_post_by_path("_posts/2025-01-04-news.md")

    # The date in the file name was wrong: the author renames it (and tidies an old post into a folder).
    (posts / "2025-01-04-news.md").rename(posts / "2025-01-05-news.md")
    (posts / "archive").mkdir()
    (posts / "2025-01-02-second.md").rename(posts / "archive" / "2025-01-02-second.md")
    report = await ingest(store, site)

    assert (report.added, report.updated, report.removed, report.failed) == (0, 2, 0, [])
    after = await store.get_post_by_path("_posts/2025-01-05-news.md")
    assert before is not None and after is not None and after.id == before.id
    assert after.date_iso.startswith("2025-01-05")
    assert await store.get_post_by_path("_posts/2025-01-04-news.md") is None
    assert await store.enqueue_new_posts(max_burst=10) == {}
    assert [(d.post_path, d.state) for d in await store.deliveries()] == [("_posts/2025-01-05-news.md", "sent")]
    assert [h.post.path for h in await store.search("RAG")] == ["_posts/archive/2025-01-02-second.md"]


async def test_a_deleted_post_and_a_new_copy_of_another_are_told_apart(posts: Path, store: Store) -> None:
    """Only identical bytes make a rename: an edited file under a new name is a new post."""
    site = load_site(posts)
    await ingest(store, site)
    old = await store.get_post_by_path("_posts/2025-01-01-first.md")
    (posts / "2025-01-01-first.md").unlink()
    write_post(posts, "2025-01-06-first-v2.md", "最初の記事 第二版", "推論コストについての新しい本文です。")
    report = await ingest(store, site)
    assert (report.added, report.updated, report.removed) == (1, 0, 1)
    new = await store.get_post_by_path("_posts/2025-01-06-first-v2.md")
    assert old is not None and new is not None and new.id != old.id


def _swap_in_an_empty_folder(folder: Path) -> Path:
    """Move the folder away and leave an empty one in its place, as an unmounted volume looks."""
    away = folder.with_name(folder.name + "-away")
    folder.rename(away)
    folder.mkdir()
    return away


def _swap_back(folder: Path, away: Path) -> None:
    folder.rmdir()
    away.rename(folder)


async def test_a_folder_emptied_all_at_once_keeps_the_store(posts: Path, store: Store) -> None:
    """An unmounted or swapped-out folder looks empty: that must not delete, then re-announce, every post."""
    site = load_site(posts)
    await ingest(store, site)
    away = _swap_in_an_empty_folder(posts)
    report = await ingest(store, site)
    assert (report.removed, len(report.failed)) == (0, 1)
    assert "3 stored posts were kept" in report.failed[0].error and "KIJI_DB_PATH" in report.failed[0].error
    assert len(await store.all_posts()) == 3
    _swap_back(posts, away)
    assert (await ingest(store, site)).unchanged == 3
    # Deleting posts one by one, down to the last, still works.
    (posts / "2025-01-01-first.md").unlink()
    (posts / "2025-01-02-second.md").unlink()
    assert (await ingest(store, site)).removed == 2


async def test_renaming_the_only_post_is_a_rename_not_an_emptied_folder(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "solo"
    folder.mkdir()
    write_post(folder, "2025-01-01-only.md", "唯一の記事", "本文です。")
    site = load_site(folder)
    await ingest(store, site)
    before = await store.get_post_by_path("_posts/2025-01-01-only.md")
    (folder / "2025-01-01-only.md").rename(folder / "2025-01-02-only.md")
    report = await ingest(store, site)
    assert (report.added, report.updated, report.removed, report.failed) == (0, 1, 0, [])
    after = await store.get_post_by_path("_posts/2025-01-02-only.md")
    assert before is not None and after is not None and after.id == before.id
