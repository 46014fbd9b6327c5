"""Ingest speed against Jekyll: `kiji ingest` of ~2,500 posts as a whole process vs `jekyll build` of them.

The corpus sample is replicated into a temporary Jekyll site: each copy of a post gets its own
file name, date and title, and a few of its paragraphs gain a sentence of their own, so that no
two posts are the same bytes and near-duplicate removal has real work to do. Measured, runs
interleaved (Kiji, Jekyll, Jekyll, Kiji, ...) so that a noisy neighbour hits both alike:

* cold ingest: `python -m bot.cli ingest --site DIR --db NEW` (a new store file; search index
  included), wall clock of the whole process, against `jekyll build` of the same site (Debian's
  `jekyll` package; the site's plugins that are not installed are left out of its build, the
  missing theme is a one-line layout, its includes empty). Medians and their ratio; target ≤ 1/4.
* no-op ingest: `ingest()` again over the same, unchanged site, in the process that holds the
  store (how the bot polls; target ≤ 0.3 s), and `kiji ingest` as a process for reference.
* where the time goes: one core, every post, CPU seconds per stage: `parse_post`, each cleaning
  pass, search tokenising, and the FTS5 insert of the tokens into the store's own table.

Without `jekyll` on PATH (`apt-get install jekyll`) it says so and reports Kiji's figures alone.

Run: `.venv/bin/python -m bench.ingest_speed [--copies 41] [--runs 3] [--reference DIR] [--json PATH]`
(--reference: a checkout of an earlier Kiji, timed in the same interleaved runs: before/after).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench._common import CORPUS, ROOT, Row, base_parser, emit, secs, verdict
from bench.ingest_bench import _fresh, warm_page_cache
from bot.content import cleaning, search_tokens
from bot.services.ingest import ingest
from bot.sources.post_files import find_post_files
from bot.sources.post_reader import parse_post
from bot.sources.site_config import load_site
from bot.store import Store

TARGET_RATIO = 0.25
TARGET_NOOP_SECONDS = 0.3

# The cleaning passes `cleaning._clean` calls, by the names it calls them under.
CLEANING_PASSES = (
    "prepass",
    "scan_blocks",
    "drop_prompt_and_chatter",
    "rejoin_cut_sentences",
    "dedupe",
    "_subtitle_for_title_line",
    "_build_sections",
)

_TITLE_LINE = re.compile(r'^title: "(.*)"$', re.MULTILINE)
_INCLUDE = re.compile(r"\{%-?\s*include\s+([\w.-]+)")
_DATE_LINE = re.compile(r"^date: (\d{4}-\d{2}-\d{2})", re.MULTILINE)


# --------------------------------------------------------------------------- the site


def _vary_body(body: str, copy: int) -> str:
    """Every fifth prose line (a different fifth per copy) gains a sentence of its own."""
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if line.endswith("。") and not line.startswith(("#", "|", ">", "-", "*")) and (index + copy) % 5 == 0:
            lines[index] = f"{line}この点は第{copy + 1}版の{index}行目で補足しました。"
    return "\n".join(lines)


def replicate(original: Path, copy: int) -> tuple[str, str]:
    """(file name, text) of copy number `copy` of a sample post: own name, date, title and a varied body."""
    text = original.read_text(encoding="utf-8")
    day = dt.date.fromisoformat(original.name[:10]) - dt.timedelta(days=copy)
    front_end = text.index("\n---", 3)
    front, body = text[:front_end], text[front_end:]
    front = _TITLE_LINE.sub(lambda m: f'title: "{m.group(1)}（第{copy + 1}版）"', front, count=1)
    front = _DATE_LINE.sub(f"date: {day.isoformat()}", front, count=1)
    return f"{day.isoformat()}-r{copy:02d}{original.name[10:]}", front + _vary_body(body, copy)


def build_site(root: Path, copies: int) -> Path:
    """The sample site with each post replicated `copies` times, plus what `jekyll build` needs of it."""
    site = root / "site"
    posts = site / "_posts"
    posts.mkdir(parents=True)
    shutil.copy2(CORPUS / "_config.yml", site / "_config.yml")
    for original in sorted((CORPUS / "_posts").glob("*.md")):
        for copy in range(copies):
            name, text = replicate(original, copy)
            (posts / name).write_text(text, encoding="utf-8")
    # Jekyll only: the theme is not in the sample (one-line layouts stand in for it), nor are the
    # plugins Debian does not package; Kiji reads neither.
    (site / "_layouts").mkdir()
    for layout in ("post", "default"):
        (site / "_layouts" / f"{layout}.html").write_text("<main>{{ content }}</main>\n", encoding="utf-8")
    (site / "_includes").mkdir()
    for include in sorted({m for p in posts.iterdir() for m in _INCLUDE.findall(p.read_text(encoding="utf-8"))}):
        (site / "_includes" / include).write_text("", encoding="utf-8")
    (site / "_jekyll_bench.yml").write_text("plugins: [jekyll-feed, jekyll-seo-tag]\n", encoding="utf-8")
    return site


# --------------------------------------------------------------------------- whole processes


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of it and its children) of one command, which must succeed."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, _children_cpu() - cpu


def _kiji_env() -> dict[str, str]:
    """This environment without the KIJI_* settings, so only the command line says what to ingest."""
    return {key: value for key, value in os.environ.items() if not key.startswith("KIJI_")}


def kiji_ingest(site: Path, db: Path, *, cold: bool, tree: Path = ROOT) -> tuple[float, float]:
    """`kiji ingest` of `site` into `db` by the Kiji checked out in `tree` (this one by default)."""
    if cold:
        _fresh(db)
    command = [sys.executable, "-m", "bot.cli", "ingest", "--site", str(site), "--db", str(db), "-q"]
    return _timed(command, tree, _kiji_env() | {"PYTHONPATH": str(tree)})


def jekyll_build(jekyll: str, site: Path, destination: Path) -> tuple[float, float]:
    shutil.rmtree(destination, ignore_errors=True)
    shutil.rmtree(site / ".jekyll-cache", ignore_errors=True)
    config = f"{site / '_config.yml'},{site / '_jekyll_bench.yml'}"
    command = [jekyll, "build", "--quiet", "-s", str(site), "-d", str(destination), "--config", config]
    return _timed(command, site)


# --------------------------------------------------------------------------- no-op


async def noop_in_process(site_dir: Path, db: Path, runs: int) -> list[float]:
    """`ingest()` over the unchanged site, in the process holding the store (as the bot polls)."""
    site = load_site(site_dir)
    store = await Store.open(db)
    try:
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            report = await ingest(store, site)
            seconds.append(time.perf_counter() - started)
            if report.added or report.updated or report.removed:
                raise RuntimeError(f"the no-op ingest changed the store: {report.summary_line()}")
        return seconds
    finally:
        await store.close()


# --------------------------------------------------------------------------- where the time goes


class _StageClock:
    """CPU seconds per stage, by wrapping the functions `cleaning._clean` calls (in this process only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, stage: str, function: Callable[..., object], *args: object) -> object:
        started = time.process_time()
        result = function(*args)
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.process_time() - started
        return result

    def wrap(self, stage: str, function: Callable[..., object]) -> Callable[..., object]:
        if stage == "scan_blocks":  # a generator: its work happens when _clean lists it
            return lambda *args, **kwargs: self.time(stage, lambda: list(function(*args, **kwargs)))
        return lambda *args, **kwargs: self.time(stage, lambda: function(*args, **kwargs))


def stage_profile(site_dir: Path, root: Path) -> dict[str, float]:
    """CPU seconds per stage over every post, on one core."""
    site = load_site(site_dir)
    clock = _StageClock()
    originals = {name: getattr(cleaning, name) for name in CLEANING_PASSES}
    entries: list[tuple[int, str, str]] = []
    try:
        for name, function in originals.items():
            setattr(cleaning, name, clock.wrap(name, function))
        for post_id, (abs_path, rel_path) in enumerate(find_post_files(site), start=1):
            data = Path(abs_path).read_bytes()
            parsed = clock.time("parse_post", parse_post, data, rel_path, site)
            started = time.process_time()
            cleaned = cleaning.clean_body(parsed.body, parsed.title)
            clock.seconds["cleaning (all passes)"] = (
                clock.seconds.get("cleaning (all passes)", 0.0) + time.process_time() - started
            )
            title_tokens = clock.time("tokenise", search_tokens.index_tokens, parsed.title)
            body_tokens = clock.time("tokenise", search_tokens.index_tokens, cleaned.search_text)
            entries.append((post_id, title_tokens, body_tokens))
    finally:
        for name, function in originals.items():
            setattr(cleaning, name, function)
    clock.seconds["FTS5 insert"] = fts_insert_seconds(root / "fts.db", entries)
    return clock.seconds


def fts_insert_seconds(path: Path, entries: list[tuple[int, str, str]]) -> float:
    """CPU seconds to insert the tokens into the store's own search table (its schema, its pragmas), one transaction."""
    _fresh(path)
    asyncio.run(_create_store(path))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        started = time.process_time()
        db.execute("BEGIN")
        db.executemany("INSERT INTO post_search (rowid, title, body) VALUES (?, ?, ?)", entries)
        db.execute("COMMIT")
        return time.process_time() - started
    finally:
        db.close()


async def _create_store(path: Path) -> None:
    store = await Store.open(path)
    await store.close()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--copies", type=int, default=41, help="copies of each sample post (default 41 → 2,501)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of each build (default 3)")
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="DIR",
        help="also time the Kiji checked out in DIR (e.g. `git archive` of an earlier commit), interleaved",
    )
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the untimed first build of each")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-stage CPU profile")
    args = parser.parse_args(argv)
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        print("jekyll is not installed (apt-get install jekyll): reporting Kiji's figures alone", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="kiji-speed-") as scratch:
        root = Path(scratch)
        site = build_site(root, args.copies)
        posts = sorted((site / "_posts").iterdir())
        warm_page_cache(posts)
        size = sum(p.stat().st_size for p in posts)
        db, destination = root / "store.db", root / "_site"
        print(f"{len(posts)} posts ({size / 1e6:.1f} MB) in {site}; {args.runs} interleaved runs …", file=sys.stderr)
        if args.warmup:  # one untimed build each: Ruby's and Python's files in the page cache for all
            if jekyll:
                jekyll_build(jekyll, site, destination)
            kiji_ingest(site, db, cold=True)
            if args.reference:
                kiji_ingest(site, db, cold=True, tree=args.reference)
        kiji_runs: list[tuple[float, float]] = []
        jekyll_runs: list[tuple[float, float]] = []
        reference_runs: list[tuple[float, float]] = []
        contenders = ["kiji", *(["jekyll"] if jekyll else []), *(["reference"] if args.reference else [])]
        for run in range(max(1, args.runs)):
            for who in contenders[run % len(contenders) :] + contenders[: run % len(contenders)]:
                if who == "kiji":
                    kiji_runs.append(kiji_ingest(site, db, cold=True))
                elif who == "jekyll":
                    jekyll_runs.append(jekyll_build(jekyll, site, destination))
                else:
                    reference_runs.append(kiji_ingest(site, db, cold=True, tree=args.reference))
        kiji_ingest(site, db, cold=True)  # the store the no-op runs see is this Kiji's
        noop = asyncio.run(noop_in_process(site, db, runs=5))
        noop_process = [kiji_ingest(site, db, cold=False)[0] for _ in range(3)]
        profile = {} if args.no_profile else stage_profile(site, root)

    kiji_wall = statistics.median(w for w, _ in kiji_runs)
    # Kiji's pool workers are the forkserver's children, which nobody waits for: their CPU time
    # never reaches RUSAGE_CHILDREN, so Kiji's CPU is the profile's sum over its stages instead.
    kiji_cpu = sum(seconds for stage, seconds in profile.items() if stage not in CLEANING_PASSES)
    rows = [
        Row("posts", f"{len(posts)} ({size / 1e6:.1f} MB)"),
        Row("kiji ingest, cold, whole process (median wall)", secs(kiji_wall)),
    ]
    raw: dict[str, object] = {
        "posts": len(posts),
        "bytes": size,
        "cpus": os.cpu_count(),
        "kiji_cold_runs": kiji_runs,
        "jekyll_runs": jekyll_runs,
        "reference": str(args.reference) if args.reference else None,
        "reference_runs": reference_runs,
        "noop_in_process_seconds": noop,
        "noop_process_seconds": noop_process,
        "stage_cpu_seconds": profile,
        "kiji_stage_cpu_total": kiji_cpu,
    }
    if jekyll_runs:
        jekyll_wall = statistics.median(w for w, _ in jekyll_runs)
        jekyll_cpu = statistics.median(c for _, c in jekyll_runs)
        ratio = kiji_wall / jekyll_wall
        rows[1] = Row(
            "kiji ingest, cold, whole process (median wall)",
            secs(kiji_wall),
            f"jekyll build {secs(jekyll_wall)}",
            f"{ratio:.2f}×",
            f"≤ {TARGET_RATIO:.2f}×",
            verdict(ratio <= TARGET_RATIO),
        )
        raw |= {"ratio": ratio, "jekyll_cpu": jekyll_cpu}
        if profile:
            rows.append(
                Row(
                    "CPU: Kiji's stages on one core (parse, clean, tokenise, FTS5) vs jekyll build's",
                    secs(kiji_cpu),
                    f"jekyll build {secs(jekyll_cpu)}",
                    f"{kiji_cpu / jekyll_cpu:.2f}×",
                )
            )
            raw |= {"cpu_ratio": kiji_cpu / jekyll_cpu}
    else:
        rows.append(Row("jekyll build", "not measured: jekyll is not installed (apt-get install jekyll)"))
    if reference_runs:
        reference_wall = statistics.median(w for w, _ in reference_runs)
        rows.append(
            Row(
                "kiji ingest, cold: this Kiji vs --reference (median wall)",
                secs(kiji_wall),
                f"reference {secs(reference_wall)}",
                f"{kiji_wall / reference_wall:.2f}×",
            )
        )
        if jekyll_runs:
            rows.append(Row("reference vs jekyll build (median wall)", f"{reference_wall / jekyll_wall:.2f}×"))
    rows += [
        Row(
            "no-op ingest() in the store's process (median of 5)",
            secs(statistics.median(noop)),
            target=f"≤ {TARGET_NOOP_SECONDS} s",
            result=verdict(statistics.median(noop) <= TARGET_NOOP_SECONDS),
        ),
        Row("no-op kiji ingest, whole process (median of 3)", secs(statistics.median(noop_process))),
    ]
    if profile:
        line = ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in profile.items())
        rows.append(Row("CPU seconds per stage, one core, every post", line))
    emit(f"Ingest speed: {len(posts)} posts (corpus sample × {args.copies}) vs jekyll build", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
