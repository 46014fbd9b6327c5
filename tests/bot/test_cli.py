"""The `kiji` command line, run the way a user runs it, and Kiji's agreement with Jekyll."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.textnorm import normalize_key

REPO = Path(__file__).resolve().parents[2]


def kiji(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def corpus_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    corpus = REPO.parent / "shared" / "corpus-sample"
    if not corpus.exists():
        pytest.skip(f"{corpus} is absent: this checkout has no ../shared/ beside it")
    db = tmp_path_factory.mktemp("cli") / "kiji.sqlite3"
    result = kiji("ingest", "--site", str(corpus), "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    return corpus, db


def test_ingest_json_reports_counts(corpus_db: tuple[Path, Path]) -> None:
    corpus, db = corpus_db
    again = kiji("ingest", "--site", str(corpus), "--db", str(db), "--json")
    report = json.loads(again.stdout)
    assert set(report) == {"added", "updated", "removed", "unchanged", "failed", "seconds"}
    assert (report["added"], report["updated"], report["removed"], report["failed"]) == (0, 0, 0, [])
    assert report["unchanged"] == 61


def test_ingest_human_output_is_one_line(corpus_db: tuple[Path, Path]) -> None:
    corpus, db = corpus_db
    result = kiji("ingest", "--site", str(corpus), "--db", str(db))
    assert result.returncode == 0
    assert result.stdout.strip().startswith("0 added, 0 updated, 0 removed, 61 unchanged, 0 failed")


def test_missing_folder_says_what_to_fix(tmp_path: Path) -> None:
    result = kiji("ingest", "--posts", str(tmp_path / "nope"), "--db", str(tmp_path / "k.db"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "KIJI_POSTS_DIR" in result.stderr


def test_unwritable_database_says_what_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = kiji("ingest", "--posts", str(REPO / "examples" / "posts"), "--db", str(blocker / "k.db"))
    assert result.returncode == 2
    assert "KIJI_DB_PATH" in result.stderr


def test_defaults_serve_the_example_post(tmp_path: Path) -> None:
    env = {"KIJI_DB_PATH": str(tmp_path / "k.db")}
    assert kiji("ingest", env=env).returncode == 0
    posts = json.loads(kiji("posts", "--json", env=env).stdout)
    assert [p["slug"] for p in posts] == ["metallama-4llm-seed"]


@pytest.mark.parametrize("site_fixture", ["corpus_site", "edge_site"])
def test_posts_agree_with_jekyll(site_fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Every post Jekyll published, with every field as Jekyll made it; scheduled posts only extra."""
    site: Path = request.getfixturevalue(site_fixture)
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(site), "--db", db).returncode == 0
    ours = {p["path"]: p for p in json.loads(kiji("posts", "--db", db, "--json").stdout)}
    jekyll = {p["path"]: p for p in json.loads((site / "jekyll-posts.json").read_text(encoding="utf-8"))}
    extra = set(ours) - set(jekyll)
    assert all(ours[path]["scheduled"] for path in extra), extra  # only what Jekyll held back as future
    for path, expected in jekyll.items():
        post = ours[path]
        assert post["url"] == expected["abs"], path
        assert post["slug"] == expected["slug"], path
        assert post["title"] == expected["title"], path
        assert post["date"] == expected["date"], path
        assert post["author"] == expected["author"], path
        assert {normalize_key(t) for t in post["tags"]} == {normalize_key(t) for t in expected["tags"]}, path
        assert {normalize_key(c) for c in post["categories"]} == {normalize_key(c) for c in expected["categories"]}
        assert post["scheduled"] is False


def test_post_by_id_and_path_includes_clean_text(corpus_db: tuple[Path, Path]) -> None:
    _, db = corpus_db
    path = "_posts/2025-12-10-metallama-4llm-seed.md"
    by_path = json.loads(kiji("post", path, "--db", str(db), "--json").stdout)
    by_id = json.loads(kiji("post", str(by_path["id"]), "--db", str(db), "--json").stdout)
    assert by_id == by_path
    assert by_path["path"] == path
    assert "---END---" not in by_path["text"] and "例えば、モデルの推論コスト" in by_path["text"]


def test_unknown_post_and_tag_exit_1(corpus_db: tuple[Path, Path]) -> None:
    _, db = corpus_db
    for args in (("post", "999999"), ("tag", "no-such-tag-anywhere")):
        result = kiji(*args, "--db", str(db), "--json")
        assert result.returncode == 1
        assert json.loads(result.stdout) == []
        assert "kiji tags" in result.stderr or "kiji posts" in result.stderr


def test_tags_and_tag_listing(corpus_db: tuple[Path, Path]) -> None:
    _, db = corpus_db
    tags = json.loads(kiji("tags", "--db", str(db), "--json").stdout)
    counts = [t["count"] for t in tags]
    assert counts == sorted(counts, reverse=True) and counts[0] > 1
    top = tags[0]["tag"]
    listed = json.loads(kiji("tag", top.lower(), "--db", str(db), "--json", "--limit", "500").stdout)
    assert len(listed) == tags[0]["count"]
    dates = [p["date"] for p in listed]
    assert dates == sorted(dates, reverse=True)
    limited = json.loads(kiji("tag", top, "--db", str(db), "--json", "--limit", "2").stdout)
    assert limited == listed[:2]


def test_search_title_matches_first(corpus_db: tuple[Path, Path]) -> None:
    _, db = corpus_db
    results = json.loads(kiji("search", "Llama", "--db", str(db), "--json").stdout)
    titles = [r["title"] for r in results]
    in_title = [("llama" in normalize_key(t)) for t in titles]
    assert in_title[0] and in_title == sorted(in_title, reverse=True)
    assert json.loads(kiji("search", '"*(NEAR', "--db", str(db), "--json").stdout) is not None


def test_invite_url_has_the_needed_permissions_only() -> None:
    result = kiji("invite", "--client-id", "123456789012345678")
    url = result.stdout.strip()
    assert "client_id=123456789012345678" in url
    assert "scope=bot+applications.commands" in url
    assert f"permissions={(1 << 10) | (1 << 11) | (1 << 14) | (1 << 38)}" in url


def test_run_without_token_explains_where_to_get_one(tmp_path: Path) -> None:
    # Run from an empty folder so a developer's own .env cannot supply a token.
    result = kiji("run", env={"KIJI_DB_PATH": str(tmp_path / "k.db")}, cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr and "developers/applications" in result.stderr and ".env" in result.stderr


def test_deliveries_shows_the_ledger(tmp_path: Path) -> None:
    import asyncio

    from factories import NOW, record

    from bot.store import Store

    db = tmp_path / "k.sqlite3"

    async def prepare() -> None:
        store = await Store.open(db)
        try:
            subscription = await store.subscribe(1, 500, "text", now=NOW)
            older, newer = record("a", "A", "x", date_utc=NOW - 200), record("b", "B", "x", date_utc=NOW - 100)
            await store.write_batch([older, newer], now=NOW + 1)
            await store.enqueue_new_posts(10, now=NOW + 2)
            first, _ = await store.pending_deliveries()
            await store.mark_sent(first, 777, now=NOW + 3)
            await store.pause_subscription(subscription.id, "missing Send Messages", now=NOW + 4)
        finally:
            await store.close()

    asyncio.run(prepare())
    rows = json.loads(kiji("deliveries", "--db", str(db), "--json").stdout)
    assert {(r["post_path"], r["state"], r["message_id"]) for r in rows} == {
        ("a", "sent", "777"),
        ("b", "pending", None),
    }
    assert all(r["channel_id"] == "500" for r in rows)
    human = kiji("deliveries", "--db", str(db), "--channel", "500").stdout
    assert "subscription paused: missing Send Messages" in human and "2 deliveries" in human
    assert json.loads(kiji("deliveries", "--db", str(db), "--channel", "9", "--json").stdout) == []
