"""Interaction → callback latency at 100,000 posts: the bot on PostgreSQL against the bot on SQLite, idle and
during a cold ingest, in one run.

What is measured is `bench/latency_during_ingest.py`'s three phases, once per backend, on the same
posts and the same plan of interactions: the real bot (`KijiBot`, every cog) through the loopback
Discord emulator (OpenAPI validation on when the spec is present), /summary, /tag, /search and
autocomplete one at a time, latency from the emulator's `dispatched_at` stamp to the arrival of the
callback request;

* idle: `--idle` interactions with nothing else going on;
* during: while the bot's own ingest (`BlogSync.sync_now`, its ingest process) cold-ingests 2,500
  new posts (the 61 sample posts × 41, real Markdown), interactions go on until it ends;
* after: `--idle` more, idle again.

Targets (issue 24): idle p99 on PostgreSQL ≤ 1.5 × idle p99 on SQLite; during-ingest p99 on
PostgreSQL ≤ 1.5 × during-ingest p99 on SQLite. Reported, never asserted.

How the two 100,000-post stores are built, once per run at most:

* SQLite: `bench.interaction_latency.prepare_world` — `bench.scale_bench`'s synthetic posts (~2 KB
  mixed Japanese/English bodies, ~500 tags, written with `Store.write_batch`; cached in
  /tmp/kiji-bench/scale, ~1 minute to build), copied and mirrored as post files so that the bot's
  start-up ingest is a no-op, half of them with cached summaries; cached in /tmp/kiji-bench/interaction.
* PostgreSQL: a throwaway server started by this bench as the tests start theirs
  (`tests/throwaway_postgres.py`: initdb in a temporary folder, 127.0.0.1, fsync off, as the
  `postgres` user when run as root; shared_buffers 256 MB), and a new database filled from that
  SQLite store by `kiji store copy --to` (the operator's path: every table with its ids, search
  rows rebuilt as PostgreSQL's vectors), timed and reported. Both bots then serve the same posts
  from the same site folder.

`--posts` smaller than 100,000 builds (and caches) a smaller world, for trying the bench out.

Run: `.venv/bin/python -m bench.pg_latency [--posts 100000] [--idle 600] [--copies 41] [--json PATH]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _p in (str(_ROOT), str(_ROOT / "tests")):  # the harness and the throwaway server are test code
    if _p not in sys.path:
        sys.path.insert(0, _p)

import asyncio  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import asyncpg  # noqa: E402
from throwaway_postgres import PostgresUnavailable, started_server  # noqa: E402

from bench._common import CORPUS, ROOT, Row, base_parser, emit, ms, peak_rss_mb, percentile, verdict  # noqa: E402
from bench.ingest_speed import _kiji_env  # noqa: E402
from bench.interaction_latency import POSTS, SEED, SPEC, plan_interactions, prepare_world  # noqa: E402
from bench.latency_during_ingest import DEADLINE_S, measure, remove_added  # noqa: E402

GOAL_RATIO = 1.5
SETTINGS = ("shared_buffers=256MB", "max_wal_size=2GB")
BACKENDS = ("sqlite", "postgresql")
KINDS = ("/summary", "/tag", "/search", "autocomplete")


def copy_into_postgres(db: Path, admin_url: str) -> tuple[str, float]:
    """A new database filled from the SQLite store `db` by `kiji store copy`; (its URL, seconds the copy took)."""

    async def create() -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute("CREATE DATABASE kiji_latency TEMPLATE template0 ENCODING 'UTF8'")
        finally:
            await admin.close()

    asyncio.run(create())
    url = f"{admin_url.rpartition('/')[0]}/kiji_latency"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "store", "copy", "--db", str(db), "--to", url],
        cwd=ROOT,
        env=_kiji_env() | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"kiji store copy failed ({done.returncode}):\n{done.stderr[-2000:]}")
    seconds = time.perf_counter() - started

    async def analyze() -> None:  # fresh statistics, as autovacuum would make them soon after a real copy
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()

    asyncio.run(analyze())
    return url, seconds


def _times(samples: list[tuple[str, float]], kind: str | None = None) -> list[float]:
    return [t for k, t in samples if kind is None or k == kind]


def _ratio_row(name: str, sqlite: list[float], postgresql: list[float], goal: float | None) -> Row:
    base, value = percentile(sqlite, 99), percentile(postgresql, 99)
    return Row(
        f"{name} p99, PostgreSQL (n={len(postgresql)}) vs SQLite (n={len(sqlite)})",
        ms(value),
        ms(base),
        f"{value / base:.2f}×",
        f"≤ {goal}×" if goal else "",
        verdict(value <= goal * base) if goal else "",
    )


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--posts", type=int, default=POSTS, help="posts in the store (100,000: the target's size)")
    parser.add_argument("--idle", type=int, default=600, help="interactions in each idle phase")
    parser.add_argument("--copies", type=int, default=41, help="copies of the 61 sample posts to ingest")
    args = parser.parse_args(argv)
    if not (CORPUS / "_posts").is_dir():
        raise SystemExit(f"the sample posts are missing ({CORPUS}); the during-ingest phase ingests copies of them")

    site, db, prepared = prepare_world(args.posts)
    remove_added(site / "_posts")  # left by an interrupted run
    plan = plan_interactions(db, 1000, random.Random(SEED))
    results: dict[str, dict[str, Any]] = {}
    try:
        with started_server(SETTINGS) as admin_url:
            print(f"copying the {args.posts:,}-post store into PostgreSQL (kiji store copy) …", file=sys.stderr)
            pg_url, copy_seconds = copy_into_postgres(db, admin_url)
            for backend in BACKENDS:
                print(f"{backend}: idle, during a cold ingest, idle again …", file=sys.stderr)
                url = pg_url if backend == "postgresql" else None
                results[backend] = asyncio.run(measure(site, db, plan, args.idle, args.copies, database_url=url))
    except PostgresUnavailable as exc:
        raise SystemExit(f"cannot start PostgreSQL: {exc}") from None

    sqlite, postgresql = results["sqlite"], results["postgresql"]
    rows = [
        Row(
            "posts in the store / new files ingested in the during phase", f"{args.posts:,} / {sqlite['added_files']:,}"
        ),
        Row("SQLite store preparation", "cached" if prepared is None else f"{prepared:.0f} s"),
        Row("kiji store copy of it into PostgreSQL", f"{copy_seconds:.0f} s"),
        Row("emulator validation", "OpenAPI spec on" if SPEC.exists() else "off (spec absent)"),
        Row(
            "cold ingest by the bot, wall: SQLite / PostgreSQL",
            f"{sqlite['ingest_seconds']:.1f} s / {postgresql['ingest_seconds']:.1f} s",
        ),
        Row("posts stored by it: SQLite / PostgreSQL", f"{sqlite['stored']:,} / {postgresql['stored']:,}"),
        _ratio_row("idle, all interactions,", _times(sqlite["idle"]), _times(postgresql["idle"]), GOAL_RATIO),
        _ratio_row("during ingest, all,", _times(sqlite["during"]), _times(postgresql["during"]), GOAL_RATIO),
        _ratio_row("idle again after, all,", _times(sqlite["after"]), _times(postgresql["after"]), None),
    ]
    for backend in BACKENDS:
        everything = [t for phase in ("idle", "during", "after") for t in _times(results[backend][phase])]
        late = sum(1 for t in everything if t > DEADLINE_S)
        rows.append(
            Row(
                f"{backend}: idle p50; callbacks later than 3 s (all phases)",
                f"{ms(percentile(_times(results[backend]['idle']), 50))}; {late}",
                target="0 late",
                result=verdict(late == 0),
            )
        )
    for kind in KINDS:
        for phase in ("idle", "during"):
            rows.append(
                _ratio_row(f"{phase}: {kind}", _times(sqlite[phase], kind), _times(postgresql[phase], kind), None)
            )
    rows.append(
        Row(
            "emulator violations: SQLite / PostgreSQL", f"{sqlite['violation_count']} / {postgresql['violation_count']}"
        )
    )
    rows.append(Row("peak RSS of the bench process", f"{peak_rss_mb():.0f} MiB"))
    raw = {
        backend: {
            "idle_seconds": results[backend]["idle"],
            "during_seconds": results[backend]["during"],
            "after_seconds": results[backend]["after"],
            "ingest": results[backend]["ingest"],
            "ingest_seconds": results[backend]["ingest_seconds"],
        }
        for backend in BACKENDS
    } | {"copy_seconds": copy_seconds, "posts": args.posts}
    emit(f"Interaction → callback latency at {args.posts:,} posts: PostgreSQL against SQLite", rows, raw, args.json)
    for backend in BACKENDS:
        for phase in ("idle", "during"):
            slowest = sorted(results[backend][phase], key=lambda pair: pair[1], reverse=True)[:6]
            print(f"slowest {backend} {phase}:", "; ".join(f"{kind} {t * 1000:.0f} ms" for kind, t in slowest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
