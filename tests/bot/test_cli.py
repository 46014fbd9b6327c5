"""The `kiji` command line, run the way a user runs it, and Kiji's agreement with Jekyll."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from factories import write_post

from bot.content.textnorm import normalize_key

REPO = Path(__file__).resolve().parents[2]


def kiji(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment["PYTHONPATH"] = str(REPO)  # the checkout's code, from whatever folder the test runs in
    environment.update(env or {})
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot.cli", *args],
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
    assert set(report) == {"added", "updated", "removed", "unchanged", "failed", "seconds", "sources"}
    assert [s["error"] for s in report["sources"]] == [None]
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


def test_invite_reads_the_application_id_from_the_token(tmp_path: Path) -> None:
    token = "MTAwMDAwMDAwMDAwMDAwMDAx.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"  # base64 of 100000000000000001
    result = kiji("invite", env={"DISCORD_TOKEN": token}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "client_id=100000000000000001&" in result.stdout


@pytest.mark.parametrize("token", ["Bot MTAwMDAwMDAwMDAwMDAwMDAx.GhIjKl.abc", "1000000000000000001", "not-a-token"])
def test_invite_says_when_the_token_is_malformed(tmp_path: Path, token: str) -> None:
    result = kiji("invite", env={"DISCORD_TOKEN": token}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("kiji invite: DISCORD_TOKEN is not a bot token (")
    assert "--client-id" in result.stderr and token not in result.stderr and not result.stdout


@pytest.mark.parametrize("client_id", ["abc", "0", "-5", "12.5", "99999999999999999999", "１２３"])
def test_invite_refuses_a_client_id_that_is_not_an_id(tmp_path: Path, client_id: str) -> None:
    result = kiji("invite", f"--client-id={client_id}", cwd=tmp_path)
    assert result.returncode == 2
    assert "--client-id" in result.stderr and "is not an id" in result.stderr and "Traceback" not in result.stderr
    assert not result.stdout


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


@pytest.fixture
def bound_by_permissions() -> list[str]:
    """A command prefix under which file permissions apply: root would read a chmod 000 folder."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): file permissions cannot be made to apply")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@pytest.fixture
def small_blog(tmp_path: Path) -> Path:
    folder = tmp_path / "blog"
    (folder / "_posts").mkdir(parents=True)
    (folder / "_config.yml").write_text("url: https://blog.example\n", encoding="utf-8")
    write_post(folder / "_posts", "2025-01-01-first.md", "最初の記事", "推論コストについての本文です。", tags="[AI]")
    write_post(folder / "_posts", "2025-01-02-second.md", "Second post", "An English body about RAG.")
    return folder


def test_a_folder_that_cannot_be_read_removes_nothing(
    small_blog: Path, tmp_path: Path, bound_by_permissions: list[str]
) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    posts = small_blog / "_posts"
    os.chmod(tmp_path, 0o755)  # let the unprivileged run reach the database
    for mode, needle in ((0o000, "Permission denied"), (0o311, "cannot list the folder")):
        posts.chmod(mode)
        try:
            result = kiji("ingest", "--site", str(small_blog), "--db", db, "--json", prefix=bound_by_permissions)
        finally:
            posts.chmod(0o755)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["removed"] == 0
        assert sorted(f["path"] for f in report["failed"]) == [
            "_posts/2025-01-01-first.md",
            "_posts/2025-01-02-second.md",
        ]
        assert all(needle in f["error"] and "kept the stored copy" in f["error"] for f in report["failed"])
    assert len(json.loads(kiji("posts", "--db", db, "--json").stdout)) == 2
    again = json.loads(kiji("ingest", "--site", str(small_blog), "--db", db, "--json").stdout)
    assert (again["added"], again["removed"], again["unchanged"]) == (0, 0, 2)


def test_a_posts_folder_that_cannot_be_listed_is_refused(
    small_blog: Path, tmp_path: Path, bound_by_permissions: list[str]
) -> None:
    db = str(tmp_path / "k.db")
    posts = small_blog / "_posts"
    assert kiji("ingest", "--posts", str(posts), "--db", db).returncode == 0
    os.chmod(tmp_path, 0o755)
    posts.chmod(0o311)
    try:
        result = kiji("ingest", "--posts", str(posts), "--db", db, prefix=bound_by_permissions)
    finally:
        posts.chmod(0o755)
    assert result.returncode == 2
    assert f"cannot read the folder {posts}" in result.stderr and "permissions" in result.stderr
    assert len(json.loads(kiji("posts", "--db", db, "--json").stdout)) == 2


def test_a_read_only_database_says_what_to_fix(small_blog: Path, tmp_path: Path, bound_by_permissions: list) -> None:
    db = tmp_path / "k.db"
    assert kiji("ingest", "--site", str(small_blog), "--db", str(db)).returncode == 0
    write_post(small_blog / "_posts", "2025-01-03-third.md", "三番目", "量子コンピュータの話。")
    os.chmod(tmp_path, 0o755)
    db.chmod(0o444)
    result = kiji("ingest", "--site", str(small_blog), "--db", str(db), prefix=bound_by_permissions)
    assert result.returncode == 2
    assert "cannot write to the database" in result.stderr and "writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_path_that_is_a_folder_says_so(small_blog: Path, tmp_path: Path) -> None:
    result = kiji("ingest", "--site", str(small_blog), "--db", str(tmp_path))
    assert result.returncode == 2
    assert "is a folder" in result.stderr and "Traceback" not in result.stderr


def test_reading_commands_never_create_a_database(tmp_path: Path) -> None:
    typo = tmp_path / "typo" / "k.db"
    for args in (("posts",), ("search", "AI"), ("tags",), ("post", "1")):
        result = kiji(*args, "--db", str(typo), "--json")
        assert result.returncode == 2, args
        assert "no database" in result.stderr and "kiji ingest" in result.stderr
    assert not typo.parent.exists()


def test_paths_in_settings_may_start_with_the_home_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "blog").mkdir(parents=True)
    write_post(home / "blog", "2025-01-01-first.md", "最初の記事", "推論コストについての本文です。")
    env = {"HOME": str(home), "KIJI_POSTS_DIR": "~/blog", "KIJI_DB_PATH": "~/kiji.db"}
    assert kiji("ingest", env=env, cwd=tmp_path).returncode == 0
    assert (home / "kiji.db").exists()
    assert kiji("ingest", "--posts", "~/blog", "--db", "~/kiji.db", env=env, cwd=tmp_path).returncode == 0


def test_a_post_is_found_by_its_file_as_the_user_sees_it(small_blog: Path, tmp_path: Path) -> None:
    posts = small_blog / "_posts"
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--posts", str(posts), "--db", db).returncode == 0
    for ref in ("2025-01-02-second.md", str(posts / "2025-01-02-second.md"), "_posts/2025-01-02-second.md"):
        result = kiji("post", ref, "--posts", str(posts), "--db", db, "--json")
        assert result.returncode == 0, (ref, result.stderr)
        assert json.loads(result.stdout)["title"] == "Second post"
    # "blog/_posts/…" from the folder above, as a shell's tab completion writes it
    relative = kiji("post", "blog/_posts/2025-01-02-second.md", "--posts", str(posts), "--db", db, cwd=tmp_path)
    assert relative.returncode == 0, relative.stderr


@pytest.mark.parametrize("ref", ["99999999999999999999", "²", "-1"])
def test_an_id_no_post_can_have_is_just_not_found(small_blog: Path, tmp_path: Path, ref: str) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    result = kiji("post", ref, "--db", db, "--json")
    assert (result.returncode, json.loads(result.stdout)) == (1, [])
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("limit", ["0", "-1", "many", "99999999999999999999"])
def test_a_limit_that_is_not_a_positive_number_is_refused(small_blog: Path, tmp_path: Path, limit: str) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    result = kiji("search", "AI", "--limit", limit, "--db", db)
    assert result.returncode == 2
    assert "--limit" in result.stderr and limit in result.stderr


def test_output_cut_short_by_a_closed_pipe_is_not_an_error(small_blog: Path, tmp_path: Path) -> None:
    """`kiji posts | head`: the reader is gone (here before the first byte), so every write fails."""
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        writer = subprocess.run(
            [sys.executable, "-m", "bot.cli", "posts", "--json", "--db", db],
            stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert "BrokenPipeError" not in writer.stderr and "Traceback" not in writer.stderr, writer.stderr
    assert writer.returncode == 0


def test_a_broken_post_is_reported_once(small_blog: Path, tmp_path: Path) -> None:
    (small_blog / "_posts" / "2025-01-03-broken.md").write_text("---\ntitle: [oops\n---\nbody\n", encoding="utf-8")
    result = kiji("ingest", "--site", str(small_blog), "--db", str(tmp_path / "k.db"))
    assert result.returncode == 0
    said = result.stdout + result.stderr
    assert said.count("2025-01-03-broken.md") == 1, said


def test_a_post_is_found_by_its_file_without_repeating_the_site(small_blog: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    for ref, cwd in (
        (str(small_blog / "_posts" / "2025-01-02-second.md"), REPO),
        ("blog/_posts/2025-01-02-second.md", tmp_path),
    ):
        result = kiji("post", ref, "--db", db, "--json", cwd=cwd)
        assert result.returncode == 0, (ref, result.stderr)
        assert json.loads(result.stdout)["path"] == "_posts/2025-01-02-second.md"
    later = write_post(small_blog / "_posts", "2025-01-03-third.md", "Third", "Not ingested yet.")
    missing = kiji("post", str(later), "--db", db)
    assert missing.returncode == 1
    assert "not in the store: run `kiji ingest`" in missing.stderr


def test_a_failed_post_is_named_by_its_file_on_disk(tmp_path: Path) -> None:
    posts = tmp_path / "my-posts"
    posts.mkdir()
    write_post(posts, "2025-01-01-good.md", "Good", "A body.")
    (posts / "2025-01-02-broken.md").write_text("---\ntitle: [oops\n---\nbody\n", encoding="utf-8")
    result = kiji("ingest", "--posts", "my-posts", "--db", str(tmp_path / "k.db"), cwd=tmp_path)
    assert result.returncode == 0
    assert "  failed: my-posts/2025-01-02-broken.md: invalid YAML" in result.stdout  # not `_posts/…`


def test_an_empty_posts_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "photo.png").write_bytes(b"\x89PNG")  # not a post, and not taken for a broken one
    result = kiji("ingest", "--posts", str(tmp_path / "posts"), "--db", str(tmp_path / "k.db"))
    assert result.returncode == 0
    assert f"kiji ingest: no posts in {tmp_path / 'posts'}: a post is a Markdown file named YYYY-MM-DD" in result.stderr
    full = kiji("ingest", "--posts", str(REPO / "examples" / "posts"), "--db", str(tmp_path / "k.db"))
    assert "no posts" not in full.stderr


def test_a_site_without_config_says_links_will_be_relative(small_blog: Path, tmp_path: Path) -> None:
    (small_blog / "_config.yml").unlink()
    db = str(tmp_path / "k.db")
    result = kiji("ingest", "--site", str(small_blog), "--db", db)
    assert result.returncode == 0
    assert f"{small_blog} has no _config.yml, so Jekyll's defaults apply" in result.stderr
    assert "post links will be relative" in result.stderr and "KIJI_SITE_URL" in result.stderr
    assert all(p["url"].startswith("/") for p in json.loads(kiji("posts", "--db", db, "--json").stdout))
    with_url = kiji("ingest", "--site", str(small_blog), "--db", db, env={"KIJI_SITE_URL": "https://blog.example"})
    assert "has no _config.yml" in with_url.stderr and "relative" not in with_url.stderr
    configured = kiji("ingest", "--site", str(REPO / "examples" / "posts"), "--db", str(tmp_path / "other.db"))
    assert "_config.yml" in configured.stderr  # the example folder has none either: said for any --site


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_search_query_says_so(small_blog: Path, tmp_path: Path, query: str) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    result = kiji("search", query, "--db", db)
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.startswith("kiji search: the search query is empty")


def test_counts_are_singular_for_one(small_blog: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    assert kiji("search", "RAG", "--db", db).stdout.splitlines()[-1] == "1 result for 'RAG'"
    assert kiji("posts", "--db", db).stdout.splitlines()[-1] == "2 posts"
    assert kiji("deliveries", "--db", db).stdout.splitlines()[-1] == "0 deliveries"


def test_summarize_says_which_files_are_not_posts_once_each(tmp_path: Path) -> None:
    good = write_post(tmp_path, "2025-01-01-good.md", "見出し", "推論コストについての本文です。モデルの話をします。")
    (tmp_path / "README.md").write_text("# Just a readme\n\nNo front matter here.\n", encoding="utf-8")
    (tmp_path / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (tmp_path / "broken.md").write_text("---\ntitle: [oops\n---\nbody\n", encoding="utf-8")
    names = ["README.md", "image.md", "broken.md", "missing.md", "."]
    result = kiji("summarize", str(good), *names, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ""  # every error is said once, in the output, next to its file
    errors = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("error:")]
    assert errors == [
        "error: not a post: it has no front matter (a post starts with a '---' line, then its title)",
        "error: not a text post: not UTF-8 at byte 0",
        errors[2],
        "error: no such file",
        "error: a folder, not a post file",
    ]
    assert errors[2].startswith("error: invalid YAML in front matter")
    assert "見出し" in result.stdout
    records = [json.loads(line) for line in kiji("summarize", *names, "--json", cwd=tmp_path).stdout.splitlines()]
    assert [r["error"] for r in records] == [e.removeprefix("error: ") for e in errors]


# ----------------------------------------------------------------- issue 14 item 15: arguments out of range


@pytest.mark.parametrize(
    ("args", "what"),
    [(("post", "\udcff"), "post path"), (("tag", "ta\udcffg"), "tag"), (("search", "\udcff"), "search query")],
)
def test_an_argument_that_is_not_utf8_is_refused(small_blog: Path, tmp_path: Path, args: tuple[str, ...], what: str):
    """`kiji post $'\\xff'`: the shell hands over a byte that is no UTF-8; Python holds it as a surrogate."""
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    result = kiji(*args, "--db", db, "--json")
    assert result.returncode == 1, result.stderr
    assert f"the {what} " in result.stderr and "is not valid UTF-8" in result.stderr and "\\xff" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ("[]\n" if args[0] == "post" else "")


@pytest.mark.parametrize("command", [("tag", "AI"), ("search", "AI")])
def test_a_huge_limit_is_refused(small_blog: Path, tmp_path: Path, command: tuple[str, str]) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    result = kiji(*command, "--limit", "99999999999999999999", "--db", db)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--limit" in result.stderr and "too large; give at most 1000000" in result.stderr
    assert kiji(*command, "--limit", "1000000", "--db", db).returncode == 0  # the largest is fine


@pytest.mark.parametrize("option", ["--post", "--channel"])
@pytest.mark.parametrize("value", ["99999999999999999999", "9223372036854775808", "0", "abc"])
def test_deliveries_refuses_an_id_out_of_range(small_blog: Path, tmp_path: Path, option: str, value: str) -> None:
    db = str(tmp_path / "k.db")
    assert kiji("ingest", "--site", str(small_blog), "--db", db).returncode == 0
    result = kiji("deliveries", option, value, "--db", db)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert option in result.stderr and "is not an id" in result.stderr
    largest = kiji("deliveries", option, "9223372036854775807", "--db", db, "--json")
    assert (largest.returncode, largest.stdout) == (0, "[]\n")
