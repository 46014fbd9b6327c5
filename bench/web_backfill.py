"""A web blog's backfill against `kiji ingest` of the same posts as Markdown: `python -m bench.web_backfill`.

The jekyll fixture site (tests/fixtures/web/jekyll) is replicated to `--pages` post pages (each
of its four post pages copied under a new address and title), listed in its sitemap, and served
from 127.0.0.1 by the tests' server running in a process of its own, so its CPU is not counted
(it gzips each page once and keeps it, as static hosts serve precompressed or cached bodies).
`kiji ingest --source http://…/` (KIJI_FETCH_RATE=1000: the rate limit lifted) backfills it; the
baseline is `kiji ingest` of the same four Markdown posts replicated the same number of times, in
the same run. Both run as subprocesses; the CPU of the `kiji` process alone (`os.wait4`) leaves out
both paths' pool workers (started by a forkserver, not by `kiji`): the Markdown path's parsing, and
the web path's page extraction and cleaning, which run in a process pool too (one call per page
does both). On Linux this process makes itself its descendants' reaper (PR_SET_CHILD_SUBREAPER),
so the forkserver and its workers, orphaned when `kiji` exits, are reaped here and their CPU is
counted too: "CPU with its workers" compares like with like. Target: ≤ 2× wall.

Then, in this process, each stage of the web path is done alone over every page and its CPU
counted (`time.process_time`): fetch (Kiji's Fetcher, one session), extraction (`read_page`:
trafilatura, then HTML to Markdown), cleaning (`prepare_article` of an entry not cleaned yet:
Kiji's cleaner and tokeniser, as the backfill's workers run them after extraction) and write
(`Store.write_batch`, batches of 64, as ingest writes them).
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from bench._common import CORPUS, ROOT, Row, base_parser, emit, verdict

JEKYLL = ROOT / "tests" / "fixtures" / "web" / "jekyll"
BUILT = "http://blog.test"
POSTS = (  # the fixture's post pages and their Markdown files
    ("2025/08/29/1-connectaiai", "2025-08-29-1-connectaiai.md"),
    ("2025/08/29/4-googleaisoc", "2025-08-29-4-googleaisoc.md"),
    ("2025/09/09/1-google-ai検索進化marketとtechの最前線", "2025-09-08-1-google-ai検索進化marketとtechの最前線.md"),
    ("2025/09/15/1-aidefi30", "2025-09-14-1-aidefi30.md"),
)
TARGET = 2.0
TITLE_LINE = re.compile(r'^title: *"?(.*?)"?$', re.M)
SERVE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from web_server import WebServer
server = WebServer(); server.start(); server.serve_site(Path(sys.argv[2]))
print(server.port, flush=True)
sys.stdin.read()
"""


def _title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found, "a fixture page without <title>"
    return found.group(1).split(" | ")[0].strip()


def build_site(folder: Path, pages: int) -> list[str]:
    """The fixture site with `pages` post pages (copies of its four under new addresses); their paths."""
    shutil.copytree(JEKYLL, folder)
    templates = [((JEKYLL / path / "index.html").read_text(encoding="utf-8"), path) for path, _ in POSTS]
    paths = []
    for number in range(pages):
        html, original = templates[number % len(templates)]
        title = _title(html)
        new = f"archive/{number:05d}/{original.rsplit('/', 1)[1]}"
        for form in (original, quote(original)):
            html = html.replace(f"/{form}/", f"/{new}/")
        html = html.replace(title, f"{title} #{number}")
        (folder / new).mkdir(parents=True)
        (folder / new / "index.html").write_text(html, encoding="utf-8")
        paths.append(f"/{new}/")
    urls = "".join(f"<url><loc>{BUILT}{quote(path)}</loc></url>" for path in paths)
    (folder / "sitemap.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
        encoding="utf-8",
    )
    return paths


def build_markdown(folder: Path, pages: int, url: str) -> Path:
    """The same four Markdown posts, each copied under a new name and title, `pages` files in all."""
    (folder / "_posts").mkdir(parents=True)
    config = (CORPUS / "_config.yml").read_text(encoding="utf-8")
    (folder / "_config.yml").write_text(config.replace('url: "https://ai-media.co.jp"', f'url: "{url}"'), "utf-8")
    texts = [(CORPUS / "_posts" / name).read_text(encoding="utf-8") for _, name in POSTS]
    for number in range(pages):
        name = POSTS[number % len(POSTS)][1]
        text = TITLE_LINE.sub(rf'title: "\g<1> #{number}"', texts[number % len(POSTS)], count=1)
        (folder / "_posts" / f"{name[:11]}{number:05d}-{name[11:]}").write_text(text, encoding="utf-8")
    return folder


def _reaper_of_orphans() -> bool:
    """Become the reaper of our descendants' orphans (Linux), so that their CPU is counted here."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reap_orphans(keep: int) -> None:
    """Wait for every child but `keep` (the server): the orphaned forkserver and workers of a `kiji` run."""
    me = os.getpid()
    children = Path(f"/proc/{me}/task/{me}/children")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and children.is_file():
        left = [int(pid) for pid in children.read_text().split() if int(pid) != keep]
        if not left:
            return
        for pid in left:
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)  # a forkserver ends once it sees its client's socket closed


def timed_kiji(*args: str, data_dir: Path, server_pid: int) -> tuple[float, float, float | None, str]:
    """Wall seconds, CPU seconds of the `kiji` process, CPU with its workers (None: not countable), stderr."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    environment.update({"PYTHONPATH": str(ROOT), "KIJI_DATA_DIR": str(data_dir), "KIJI_FETCH_RATE": "1000"})
    counting = _reaper_of_orphans()
    before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if counting:
        _reap_orphans(keep=server_pid)
    with_workers = _children_cpu() - before if counting else None
    process.returncode = os.waitstatus_to_exitcode(status)
    err = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"kiji {' '.join(args)} failed ({process.returncode}): {err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, with_workers, err


async def stages(base: str, paths: list[str], db: Path) -> dict[str, float]:
    """CPU seconds of each stage of the web path, each done alone over every page."""
    from bot.services.article_ingest import BATCH, prepare_article
    from bot.sources.base import ArticleEntry
    from bot.sources.canonical import canonical_url
    from bot.sources.fetcher import Fetcher, HostPolicy
    from bot.sources.web import entry_version
    from bot.sources.web_pages import read_page
    from bot.store import Store

    cpu: dict[str, float] = {}
    started = time.process_time()
    answers = []
    async with Fetcher(HostPolicy(rate=1000.0)) as fetcher:
        for path in paths:
            answers.append(await fetcher.get(base + quote(path), accept="text/html"))
    cpu["fetch"] = time.process_time() - started

    started = time.process_time()
    articles = [read_page(answer.body, answer.url, answer.charset) for answer in answers]
    cpu["extraction"] = time.process_time() - started

    entries = []
    for answer, article in zip(answers, articles, strict=True):
        assert article is not None, f"{answer.url}: no article extracted"
        key = canonical_url(answer.url)
        entries.append(ArticleEntry(key, entry_version(article), key, article, archive=True))
    started = time.process_time()
    records = [prepare_article(entry, entry.key, silent=True) for entry in entries]
    cpu["cleaning"] = time.process_time() - started

    store = await Store.open(db)
    try:
        source_id = await store.register_source("bench-web", "bench web blog")
        started = time.process_time()
        for start in range(0, len(records), BATCH):
            await store.write_batch(records[start : start + BATCH], source_id=source_id)
        await store.finish_ingest()
        cpu["write"] = time.process_time() - started
    finally:
        await store.close()
    return cpu


def measure(workdir: Path, pages: int) -> tuple[list[Row], dict[str, object]]:
    site = workdir / "site"
    paths = build_site(site, pages)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(ROOT / "tests"), str(site)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base = f"http://127.0.0.1:{int(server.stdout.readline())}"
        markdown = build_markdown(workdir / "markdown", pages, base)
        md_wall, md_cpu, md_all, _ = timed_kiji(
            "ingest",
            "--source",
            str(markdown),
            "--db",
            str(workdir / "md.db"),
            data_dir=workdir / "md-data",
            server_pid=server.pid,
        )
        web_wall, web_cpu, web_all, _ = timed_kiji(
            "ingest",
            "--source",
            base + "/",
            "--db",
            str(workdir / "web.db"),
            data_dir=workdir / "web-data",
            server_pid=server.pid,
        )
        stage_cpu = asyncio.run(stages(base, paths, workdir / "stages.db"))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        _, _, usage = os.wait4(server.pid, 0)
        server.returncode = 0
    server_cpu = usage.ru_utime + usage.ru_stime  # all its requests, the stage replay's included
    import sqlite3

    with sqlite3.connect(workdir / "web.db") as db:
        web_posts = db.execute("SELECT count(*) FROM posts").fetchone()[0]
    with sqlite3.connect(workdir / "md.db") as db:
        md_posts = db.execute("SELECT count(*) FROM posts").fetchone()[0]
    ratio = web_wall / md_wall
    rows = [
        Row("posts stored (web / Markdown)", f"{web_posts} / {md_posts}", target=f"≥ {pages}"),
        Row(
            f"backfill of {pages} pages, wall",
            f"{web_wall:.1f} s",
            baseline=f"{md_wall:.1f} s (kiji ingest of Markdown)",
            ratio=f"{ratio:.2f}",
            target=f"≤ {TARGET:g}×",
            result=verdict(ratio <= TARGET),
        ),
        Row(
            f"backfill of {pages} pages, CPU of the kiji process (not its forkserver's workers)",
            f"{web_cpu:.1f} s",
            baseline=f"{md_cpu:.1f} s",
            ratio=f"{web_cpu / md_cpu:.2f}",
        ),
    ]
    if md_all is not None and web_all is not None:
        rows.append(
            Row(
                f"backfill of {pages} pages, CPU with its forkserver and pool workers",
                f"{web_all:.1f} s",
                baseline=f"{md_all:.1f} s",
                ratio=f"{web_all / md_all:.2f}",
            )
        )
    rows.append(Row("CPU of the loopback server (whole run, gzip included; not Kiji's)", f"{server_cpu:.1f} s"))
    for stage, seconds in stage_cpu.items():
        rows.append(Row(f"CPU per page: {stage}", f"{seconds / pages * 1000:.2f} ms"))
    raw = {
        "pages": pages,
        "web": {"wall_s": web_wall, "cpu_s": web_cpu, "cpu_with_workers_s": web_all, "posts": web_posts},
        "markdown": {"wall_s": md_wall, "cpu_s": md_cpu, "cpu_with_workers_s": md_all, "posts": md_posts},
        "stage_cpu_s": stage_cpu,
        "server_cpu_s": server_cpu,
    }
    return rows, raw


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=2500, help="post pages in the replicated site (default 2500)")
    args = parser.parse_args(argv)
    if not (CORPUS / "_posts").is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kiji-web-backfill-") as folder:
        rows, raw = measure(Path(folder), args.pages)
    emit(f"Web backfill of {args.pages} pages against kiji ingest of Markdown", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
