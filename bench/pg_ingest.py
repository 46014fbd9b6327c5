"""Cold ingest into PostgreSQL against the same into SQLite: `kiji ingest` of ~2,500 posts, whole processes.

The site is `bench.ingest_speed`'s: the corpus sample (61 posts) replicated `--copies` times (41 by
default: 2,501 posts, ~100 MB), each copy with its own file name, date, title and slightly varied
body. Each run ingests all of it into a new, empty store, as `python -m bot.cli ingest --site DIR`
does it for an operator, with `KIJI_DATABASE_URL` naming

* SQLite: a new file (the baseline), or
* PostgreSQL: a new database (`CREATE DATABASE`, dropped after the run) on a throwaway server this
  bench starts the way the tests do (`tests/throwaway_postgres.py`: initdb in a temporary folder,
  127.0.0.1, fsync off, as the `postgres` user when run as root). Kiji makes its tables in it.

Wall clock of the whole process (interpreter start, schema, parse + clean in the ingest pool,
search index, commit). Runs are interleaved (SQLite, PostgreSQL, PostgreSQL, SQLite, …) so that a
noisy neighbour hits both alike; medians and their ratio. Target: PostgreSQL ≤ 2 × SQLite. The
stores are then compared (posts, tags, search rows) so a fast but incomplete ingest cannot pass.
The CPU seconds of the PostgreSQL server's processes are not in the ingest's own CPU figure;
the server's are reported beside it (from /proc), as the work the database did.

Run: `.venv/bin/python -m bench.pg_ingest [--copies 41] [--runs 3] [--json PATH]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT / "tests") not in sys.path:  # the throwaway server is test code, shared with the benchmarks
    sys.path.insert(0, str(_ROOT / "tests"))

import asyncio  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import asyncpg  # noqa: E402
from throwaway_postgres import PostgresUnavailable, started_server  # noqa: E402

from bench._common import CORPUS, ROOT, Row, base_parser, emit, secs, verdict  # noqa: E402
from bench.ingest_bench import _fresh  # noqa: E402
from bench.ingest_speed import _kiji_env, _timed, build_site  # noqa: E402
from bot.store import open_store  # noqa: E402

TARGET_RATIO = 2.0
SETTINGS = ("shared_buffers=256MB", "max_wal_size=2GB")  # a modest server, not the 128 MB/1 GB defaults


def database_url(admin_url: str, name: str) -> str:
    return f"{admin_url.rpartition('/')[0]}/{name}"


async def _admin(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def server_cpu_seconds(admin_url: str) -> float:
    """CPU seconds (user + system) used so far by the server of `admin_url`: its postmaster, the children
    it has reaped (ended backends) and those still running. Other servers on the machine are left out."""
    port = str(urlsplit(admin_url).port).encode()
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    postmaster = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if arguments[0].endswith(b"/postgres") and b"-p" in arguments and port in arguments:
            postmaster = int(entry.name)
    if postmaster is None:
        return float("nan")
    # fields after the command: 0 state, 1 ppid, 11 utime, 12 stime, 13 cutime, 14 cstime
    total = sum(int(value) for value in stats[postmaster][11:15])
    total += sum(sum(int(v) for v in fields[11:13]) for fields in stats.values() if fields[1] == str(postmaster))
    return total / ticks


def ingest(site: Path, url: str) -> tuple[float, float]:
    """(wall, CPU of the ingest process and its children) of `kiji ingest --site` into the store at `url`."""
    command = [sys.executable, "-m", "bot.cli", "ingest", "--site", str(site), "-q"]
    return _timed(command, ROOT, _kiji_env() | {"PYTHONPATH": str(ROOT), "KIJI_DATABASE_URL": url})


async def contents(url: str) -> dict[str, int]:
    """What the ingest stored: posts, tag links, distinct tags, search rows (the same on both)."""
    store = await open_store(url, create=False)
    try:
        posts = await store.all_posts()
        tags = await store.tags()
        return {
            "posts": len(posts),
            "tag links": sum(len(p.tags) for p in posts),
            "tags": len(tags),
            "search hits for 'AI'": len(await store.search("AI", limit=10_000)),
        }
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--copies", type=int, default=41, help="copies of the 61 sample posts (41: 2,501 posts)")
    parser.add_argument("--runs", type=int, default=3, help="cold ingests into each database")
    args = parser.parse_args(argv)
    if not (CORPUS / "_posts").is_dir():
        raise SystemExit(f"the sample posts are missing ({CORPUS}); this bench ingests copies of them")
    work = Path(tempfile.mkdtemp(prefix="kiji-pg-ingest-"))
    site = build_site(work, args.copies)
    posts = sum(1 for _ in (site / "_posts").glob("*.md"))
    sqlite_file = work / "kiji.sqlite3"
    runs: dict[str, list[tuple[float, float]]] = {"sqlite": [], "postgresql": []}
    server_cpu: list[float] = []
    stored: dict[str, dict[str, int]] = {}
    try:
        with started_server(SETTINGS) as admin_url:
            order = [("sqlite", "postgresql"), ("postgresql", "sqlite")]
            for run in range(args.runs):
                for backend in order[run % 2]:
                    print(f"run {run + 1}/{args.runs}: {backend} …", file=sys.stderr)
                    if backend == "sqlite":
                        _fresh(sqlite_file)
                        runs["sqlite"].append(ingest(site, f"sqlite:///{sqlite_file}"))
                        if run == args.runs - 1:
                            stored["sqlite"] = asyncio.run(contents(f"sqlite:///{sqlite_file}"))
                        continue
                    name = f"kiji_ingest_{run}"
                    asyncio.run(_admin(admin_url, f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"))
                    url = database_url(admin_url, name)
                    cpu_before = server_cpu_seconds(admin_url)
                    runs["postgresql"].append(ingest(site, url))
                    server_cpu.append(server_cpu_seconds(admin_url) - cpu_before)
                    if run == args.runs - 1:
                        stored["postgresql"] = asyncio.run(contents(url))
                    asyncio.run(_admin(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)'))
    except PostgresUnavailable as exc:
        raise SystemExit(f"cannot start PostgreSQL: {exc}") from None
    finally:
        _fresh(sqlite_file)

    sqlite_wall = statistics.median(w for w, _ in runs["sqlite"])
    pg_wall = statistics.median(w for w, _ in runs["postgresql"])
    ratio = pg_wall / sqlite_wall
    same = stored["sqlite"] == stored["postgresql"]
    rows = [
        Row("posts ingested (corpus sample × copies)", f"{posts:,} ({args.copies} copies), {args.runs} runs each"),
        Row("SQLite: kiji ingest, cold, whole process (median wall)", secs(sqlite_wall)),
        Row(
            "PostgreSQL: kiji ingest, cold, whole process (median wall)",
            secs(pg_wall),
            f"SQLite {secs(sqlite_wall)}",
            f"{ratio:.2f}×",
            f"≤ {TARGET_RATIO:.0f}×",
            verdict(ratio <= TARGET_RATIO),
        ),
        Row(
            "CPU of the ingest process: SQLite / PostgreSQL (medians)",
            f"{secs(statistics.median(c for _, c in runs['sqlite']))} / "
            f"{secs(statistics.median(c for _, c in runs['postgresql']))}",
        ),
        Row("CPU of the PostgreSQL server during its ingest (median)", secs(statistics.median(server_cpu))),
        Row(
            "stored alike (posts, tag links, tags, search hits)",
            ", ".join(f"{k} {v}" for k, v in stored["postgresql"].items()),
            ", ".join(f"{k} {v}" for k, v in stored["sqlite"].items()),
            "",
            "equal",
            verdict(same),
        ),
    ]
    raw = {
        "posts": posts,
        "sqlite_runs": runs["sqlite"],
        "postgresql_runs": runs["postgresql"],
        "server_cpu_seconds": server_cpu,
        "ratio": ratio,
        "stored": stored,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    emit(f"Cold ingest of {posts:,} posts: PostgreSQL against SQLite", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
