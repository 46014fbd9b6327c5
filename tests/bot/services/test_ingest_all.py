"""ingest_all: every source in turn; one that fails (or has a bug) is recorded with its reason, the rest go in."""

from __future__ import annotations

from pathlib import Path

from factories import write_post

from bot.services.blogs import ingest_all
from bot.sources.base import Changes, SourceError
from bot.sources.folder import FolderSource
from bot.store import Store


class Failing:
    """A source whose poll fails the way a remote does, or the way a bug does."""

    def __init__(self, root: Path, error: Exception) -> None:
        self.site_root = root
        self.name = f"failing-{type(error).__name__}"
        self.display = "git+https://git.example.org/owner/blog.git"
        self.error = error

    async def poll(self, since: str | None) -> Changes:
        raise self.error


async def test_a_failing_source_and_a_buggy_one_never_stop_the_good_ones(tmp_path: Path, store: Store) -> None:
    good, later = tmp_path / "good", tmp_path / "later"
    for folder in (good, later):
        folder.mkdir()
        write_post(folder, "2025-01-01-post.md", f"A post of {folder.name}", "A body long enough to be a post.")
    refused = SourceError("fetching https://kiji:s3cret@git.example.org/owner/blog.git failed: authentication")
    sources = [
        FolderSource(good, name="good"),
        Failing(tmp_path, refused),
        Failing(tmp_path, KeyError("a bug")),
        FolderSource(later, name="later"),
    ]
    outcomes = await ingest_all(store, sources)
    assert [o.report.added if o.report else None for o in outcomes] == [1, None, None, 1]
    assert outcomes[1].error is not None and "s3cret" not in outcomes[1].error
    assert "authentication" in outcomes[1].error
    assert outcomes[2].error == "internal error: KeyError: 'a bug'"
    recorded = {blog.name: blog for blog in await store.sources()}
    assert recorded["good"].last_error is None and recorded["good"].last_success_at is not None
    assert "s3cret" not in (recorded["failing-SourceError"].last_error or "")
    assert recorded["failing-SourceError"].last_success_at is None
    assert {post.title for post in await store.all_posts()} == {"A post of good", "A post of later"}


async def test_a_source_that_recovers_clears_its_error_and_keeps_its_last_success(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "blog"
    folder.mkdir()
    write_post(folder, "2025-01-01-post.md", "A post", "A body long enough to be a post.")
    source = FolderSource(folder, name="blog")
    await ingest_all(store, [source])
    [first] = await store.sources()
    away = folder.rename(tmp_path / "away")
    [outcome] = await ingest_all(store, [source])
    assert outcome.error is not None and "does not exist" in outcome.error
    [failed] = await store.sources()
    assert failed.last_success_at == first.last_success_at and failed.posts == 1  # posts kept, success remembered
    away.rename(folder)
    await ingest_all(store, [source])
    [recovered] = await store.sources()
    assert recovered.last_error is None and (recovered.last_success_at or 0) >= (first.last_success_at or 0)
