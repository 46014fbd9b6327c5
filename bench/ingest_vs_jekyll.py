"""Cold ingest against `jekyll build` of the same posts: `python -m bench.ingest_vs_jekyll`.

The sample replicated to ~2,500 posts (as `bench.ingest_bench` builds it); in one run, each
timed `--repeat` times, the fastest kept:

* baseline: `jekyll build` of that site into a fresh folder, plugins off (Debian's `jekyll`
  package: `apt-get install -y jekyll`; needed by this bench only, never by the tests);
* Kiji: a whole cold `kiji ingest` into a fresh store, search index included.

Both as wall time (`kiji ingest`, its process pool) and as CPU time (the same ingest in one
process, every cost counted, against jekyll's own, which is one process too): on a machine
loaded by other work only the CPU ratio means anything.

Target (issue 13, item 6): ingest ≤ 1/4 of the Jekyll build. Without `jekyll` on PATH the bench
says so and stops.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench._common import Row, base_parser, emit, secs, verdict
from bench.ingest_bench import WORK, build_site, make_jobs, warm_page_cache
from bot.sources.site_config import load_site

TARGET_RATIO = 0.25


_INCLUDE = re.compile(r"\{%-?\s*include\s+([\w./-]+)")


def stub_includes(site: Path) -> None:
    """Empty files for the theme's includes the posts name (ads, CTAs): the sample has no theme."""
    includes = site / "_includes"
    includes.mkdir(exist_ok=True)
    for post in (site / "_posts").glob("*.md"):
        for name in _INCLUDE.findall(post.read_text(encoding="utf-8", errors="replace")):
            (includes / name).parent.mkdir(parents=True, exist_ok=True)
            (includes / name).touch()


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the ingest pool, jekyll)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `run()`: on a loaded machine only the CPU time compares."""
    wall, cpu = time.perf_counter(), _cpu()
    run()
    return time.perf_counter() - wall, _cpu() - cpu


def jekyll_build(jekyll: str, site: Path) -> None:
    """Seconds for one `jekyll build`, its plugins (feed, sitemap, SEO tags…) switched off.

    Debian's jekyll ships without the site's plugin gems; without them the build does less
    than the real site's, so the baseline is, if anything, faster and the ratio stricter.
    """
    destination = WORK / "jekyll-site"
    shutil.rmtree(destination, ignore_errors=True)
    no_plugins = WORK / "no-plugins.yml"
    no_plugins.write_text("plugins: []\n", encoding="utf-8")
    configs = f"{site / '_config.yml'},{no_plugins}"
    result = subprocess.run(
        [jekyll, "build", "--quiet", "--source", str(site), "--destination", str(destination), "--config", configs],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"jekyll build failed ({result.returncode}): {result.stderr.strip()[:2000]}")


_ONE_PROCESS = (
    "import asyncio, sys\n"
    "from bot.services.ingest import ingest\n"
    "from bot.sources.site_config import load_site\n"
    "from bot.store import Store\n"
    "async def main():\n"
    "    store = await Store.open(sys.argv[2])\n"
    "    try:\n"
    "        report = await ingest(store, load_site(sys.argv[1]), workers=1)\n"
    "    finally:\n"
    "        await store.close()\n"
    "    sys.exit(1 if report.failed else 0)\n"
    "asyncio.run(main())\n"
)


def kiji_ingest(site: Path, one_process: bool) -> None:
    """A cold ingest in its own process: `kiji ingest` (its pool), or one process for CPU time.

    The pool's workers are children of a forkserver, whose CPU time never reaches this
    process's accounts; in one process (threads, no pool) all the work is counted.
    """
    store = WORK / "store.db"
    for leftover in WORK.glob("store.db*"):
        leftover.unlink()
    command = (
        [sys.executable, "-c", _ONE_PROCESS, str(site), str(store)]
        if one_process
        else [sys.executable, "-m", "bot.cli", "ingest", "--site", str(site), "--db", str(store), "--json"]
    )
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        env={k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))},
    )
    if result.returncode != 0:
        raise SystemExit(f"kiji ingest failed ({result.returncode}): {result.stderr.strip()[:2000]}")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--copies", type=int, default=41, help="copies of each sample post (default 41 → ~2,500)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side, the fastest kept (default 2)")
    args = parser.parse_args(argv)
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        print("no `jekyll` on PATH: apt-get install -y jekyll (this bench only)", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    site_dir = build_site(args.copies)
    site = load_site(site_dir)
    jobs = make_jobs(site)
    warm_page_cache([Path(job.abs_path) for job in jobs])
    stub_includes(site_dir)
    repeat = max(1, args.repeat)
    print(f"{len(jobs)} posts: jekyll build …", file=sys.stderr)
    jekyll_runs = [timed(lambda: jekyll_build(jekyll, site_dir)) for _ in range(repeat)]
    print("cold ingest …", file=sys.stderr)
    ingest_runs = [timed(lambda: kiji_ingest(site_dir, one_process=False)) for _ in range(repeat)]
    print("cold ingest in one process (CPU time) …", file=sys.stderr)
    one_process_runs = [timed(lambda: kiji_ingest(site_dir, one_process=True)) for _ in range(repeat)]
    jekyll_wall, jekyll_cpu = min(w for w, _ in jekyll_runs), min(c for _, c in jekyll_runs)
    ingest_wall = min(w for w, _ in ingest_runs)
    ingest_cpu = min(c for _, c in one_process_runs)
    cpu_ratio, wall_ratio = ingest_cpu / jekyll_cpu, ingest_wall / jekyll_wall
    rows = [
        Row("posts", str(len(jobs))),
        Row(
            "cold ingest, index included: CPU (one process)",
            secs(ingest_cpu),
            f"jekyll build {secs(jekyll_cpu)}",
            f"{cpu_ratio:.2f}×",
            f"≤ {TARGET_RATIO}×",
            verdict(cpu_ratio <= TARGET_RATIO),
        ),
        Row(
            "cold ingest, index included: wall (kiji ingest)",
            secs(ingest_wall),
            f"jekyll build {secs(jekyll_wall)}",
            f"{wall_ratio:.2f}×",
            f"≤ {TARGET_RATIO}×",
            verdict(wall_ratio <= TARGET_RATIO),
        ),
    ]
    raw = {
        "posts": len(jobs),
        "jekyll": {"wall": jekyll_wall, "cpu": jekyll_cpu},
        "ingest": {"wall": ingest_wall, "cpu": ingest_cpu},
    }
    emit("Cold ingest against jekyll build of the same posts", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
