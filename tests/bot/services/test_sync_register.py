"""A process that does not hold the sync lease registers the blogs but never syncs them.

Its commands still date posts in the blog's time zone: `BlogSync.register` reads the site of a
blog kept as a folder on this disk (its `_config.yml`), without ingesting anything.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from bot.services.sync import BlogSync
from bot.sources.factory import sources_from_specs
from bot.store import open_store


async def test_registering_reads_a_folder_blogs_site_without_syncing(tmp_path: Path) -> None:
    site = tmp_path / "blog"
    (site / "_posts").mkdir(parents=True)
    (site / "_config.yml").write_text("title: 記事の森\ntimezone: Asia/Tokyo\n", encoding="utf-8")
    store = await open_store(tmp_path / "kiji.sqlite3")
    try:
        sync = BlogSync(store, sources_from_specs([str(site)], tmp_path / "data"), poll_seconds=3600.0)
        await sync.register()
        assert sync.site is not None and sync.site.timezone == ZoneInfo("Asia/Tokyo")
        assert sync.site.title == "記事の森"
        assert list(sync.source_ids) == [sync.sources[0].name]
        assert sync.outcomes == {} and sync.last_report is None and not sync.running  # nothing was synced
        assert await store.get_meta("last_ingest_at") is None
    finally:
        await store.close()
