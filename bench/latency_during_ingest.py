"""Interaction latency while the bot ingests: p99 at 100,000 posts during a cold ingest of 2,500 posts, next to idle.

What is measured. The world of `bench/interaction_latency.py`: the real bot (`KijiBot`, every cog) at
100,000 posts through the loopback Discord emulator (OpenAPI validation on when the spec is present),
the same mix of /summary, /tag, /search and autocomplete, the same stamps (emulator `dispatched_at` →
arrival of the callback request). Interactions go one at a time, as there.

Three phases in one bot process, one run:

* idle: `--idle` interactions with nothing else going on (the baseline);
* during: 2,500 new posts (the 61 sample posts of `../shared/corpus-sample`, copied 41 times under new names,
  real Markdown with front matter) are put into the bot's posts folder, then the bot's own ingest
  (`BlogSync.sync_now`, the path its poller takes: the bot's ingest process parses and cleans in its pool
  and commits batches of `WRITE_BATCH`, in turn with the bot's own writes) is started, and interactions
  go on, drawn from the same plan, until it ends; only interactions dispatched while it ran are counted;
* idle again afterwards (reported, to show the machine did not drift meanwhile).

Goal: during-ingest p99 ≤ 1.5 × idle p99. Also counted: interactions whose callback arrived more than 3 s
after dispatch (Discord's deadline for the first response; each would be a 404 10062 "Unknown interaction"
in production) — must be 0 in every phase. Reported, never asserted.

The 2,500 posts are removed again at the end (an untimed ingest), so the cached 100,000-post world stays a
no-op start for the next run.

Run: `.venv/bin/python -m bench.latency_during_ingest [--json PATH] [--idle 600] [--copies 41]`
(the first run builds the 100,000-post store of `bench.scale_bench`, a few minutes, and caches it).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _p in (str(_ROOT), str(_ROOT / "tests")):  # the harness is test code, imported as pytest's conftest does
    if _p not in sys.path:
        sys.path.insert(0, _p)

import asyncio  # noqa: E402
import itertools  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from bot_harness import bot_settings, populate, running_bot  # noqa: E402

from bench._common import CORPUS, Row, base_parser, emit, ms, peak_rss_mb, percentile, verdict  # noqa: E402
from bench.interaction_latency import (  # noqa: E402
    POSTS,
    SEED,
    SPEC,
    callback_arrived,
    new_emulator,
    plan_interactions,
    prepare_world,
)
from bot.services.ingest import WRITE_BATCH  # noqa: E402

GOAL_RATIO = 1.5
DEADLINE_S = 3.0
PREFIX = "during-ingest"  # file names of the added posts start with it (after the date)


def add_posts(posts_dir: Path, copies: int) -> list[Path]:
    """The sample posts copied `copies` times into `posts_dir` under new names; the files written."""
    originals = sorted(p for p in (CORPUS / "_posts").iterdir() if p.suffix == ".md")
    written = []
    for original in originals:
        data = original.read_bytes()
        date_prefix, rest = original.name[:11], original.name[11:]  # "YYYY-MM-DD-", "slug.md"
        for copy in range(copies):
            target = posts_dir / f"{date_prefix}{PREFIX}-{copy:02d}-{rest}"
            target.write_bytes(data)
            written.append(target)
    return written


def remove_added(posts_dir: Path) -> int:
    stale = list(posts_dir.glob(f"*-{PREFIX}-*"))
    for path in stale:
        path.unlink()
    return len(stale)


async def answered(emu: Any, command: str, options: dict[str, Any], focused: str | None) -> float:
    """Seconds from dispatch to the arrival of the callback, also of one Discord refuses as too late (> 3 s)."""
    if focused is None:
        handle = await emu.slash_command(command, options, locale="ja", timeout_s=30)
    else:
        handle = await emu.autocomplete(command, focused, options, locale="ja", timeout_s=30)
    await emu.wait_for(lambda: _arrived(emu, handle.id) is not None, 300, f"a callback of {handle.id}")
    return float(callback_arrived(emu, handle.id) - handle.record.dispatched_at)


def _arrived(emu: Any, interaction_id: int) -> float | None:
    try:
        return callback_arrived(emu, interaction_id)
    except LookupError:
        return None


async def timed(emu: Any, plan: list, count: int | None, until: asyncio.Task | None) -> list[tuple[str, float]]:  # type: ignore[type-arg]
    """(kind, seconds) of interactions from `plan` (cycled): `count` of them, or while `until` runs."""
    results: list[tuple[str, float]] = []
    for index, (kind, command, options, focused) in enumerate(itertools.cycle(plan)):
        if count is not None and index >= count:
            break
        if until is not None and until.done():
            break
        elapsed = await answered(emu, command, options, focused)
        if until is None or not until.done():  # dispatched and answered while the ingest ran
            results.append((kind, elapsed))
    return results


def added_posts(db: Path) -> int:
    """Posts of this bench in the store (left by an interrupted run, or just ingested)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM posts WHERE path LIKE ?", (f"%-{PREFIX}-%",)).fetchone()[0])
    finally:
        con.close()


async def count_added(db: Path, database_url: str | None) -> int:
    """`added_posts` of the SQLite file `db`, or of the PostgreSQL database `database_url` when given."""
    if database_url is None:
        return await asyncio.to_thread(added_posts, db)
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM posts WHERE path LIKE $1", f"%-{PREFIX}-%"))
    finally:
        await connection.close()


async def measure(
    site: Path,
    db: Path,
    plan: list,  # type: ignore[type-arg]
    idle_count: int,
    copies: int,
    database_url: str | None = None,
) -> dict[str, Any]:
    """The three phases on the bot whose store is the SQLite file `db`, or the PostgreSQL `database_url`."""
    leftovers = await count_added(db, database_url)  # the start-up ingest removes them
    emu = new_emulator()
    await emu.start()
    result: dict[str, Any] = {}
    posts_dir = site / "_posts"
    try:
        populate(emu)
        async with running_bot(emu, bot_settings(emu, site, db, database_url=database_url), 600) as bot:
            report = await bot.sync.synced_once()  # the start-up sync runs in the background
            assert report is not None
            if report.added or report.updated or report.removed != leftovers:
                if database_url is None:
                    (db.parent / "READY").unlink(missing_ok=True)
                raise SystemExit(f"the start-up ingest changed the store ({report.summary_line()}); not measuring")
            for _kind, command, options, focused in plan[:40]:  # warm-up, untimed
                await answered(emu, command, options, focused)
            result["idle"] = await timed(emu, plan, idle_count, None)
            added = await asyncio.to_thread(add_posts, posts_dir, copies)
            result["added_files"] = len(added)
            started = time.perf_counter()
            ingesting = asyncio.create_task(bot.sync.sync_now())
            result["during"] = await timed(emu, plan[idle_count % len(plan) :] + plan, None, ingesting)
            ingest_report = await ingesting
            result["ingest_seconds"] = time.perf_counter() - started
            result["ingest"] = ingest_report.as_json()
            # the bot's file watcher may have started on the new files first; sync_now then waited
            # for it and did the rest: what counts is every added post stored by the end
            result["stored"] = await count_added(db, database_url)
            result["after"] = await timed(emu, plan, idle_count, None)
            removed = await asyncio.to_thread(remove_added, posts_dir)
            await bot.sync.sync_now()
            if await count_added(db, database_url):
                print(f"warning: {removed} files removed, but some of their posts are still stored", file=sys.stderr)
    finally:
        await asyncio.to_thread(remove_added, posts_dir)
        await emu.stop()
    result["violation_count"] = len(emu.violations)
    return result


def _phase_rows(name: str, samples: list[tuple[str, float]], idle_p99: float | None) -> list[Row]:
    times = [t for _, t in samples]
    p50, p99 = percentile(times, 50), percentile(times, 99)
    late = sum(1 for t in times if t > DEADLINE_S)
    rows = []
    if idle_p99 is None:
        rows.append(Row(f"{name}: p50 / p99 (n={len(times)})", f"{ms(p50)} / {ms(p99)}"))
    else:
        rows.append(
            Row(
                f"{name}: p50 / p99 (n={len(times)})",
                f"{ms(p50)} / {ms(p99)}",
                ms(idle_p99),
                f"{p99 / idle_p99:.2f}×",
                f"≤ {GOAL_RATIO}× idle p99",
                verdict(p99 <= GOAL_RATIO * idle_p99),
            )
        )
    rows.append(
        Row(f"{name}: max; callbacks later than 3 s", f"{ms(max(times))}; {late}", "", "", "0", verdict(late == 0))
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--idle", type=int, default=600, help="interactions in each idle phase")
    parser.add_argument("--copies", type=int, default=41, help="copies of the 61 sample posts to ingest")
    args = parser.parse_args(argv)
    if not (CORPUS / "_posts").is_dir():
        raise SystemExit(f"the sample posts are missing ({CORPUS}); this bench ingests copies of them")

    site, db, _ = prepare_world()
    remove_added(site / "_posts")  # left by an interrupted run
    plan = plan_interactions(db, 1000, random.Random(SEED))
    print(f"bot at {POSTS:,} posts: idle, during a cold ingest, idle again …", file=sys.stderr)
    result = asyncio.run(measure(site, db, plan, args.idle, args.copies))

    idle_p99 = percentile([t for _, t in result["idle"]], 99)
    rows = [
        Row(
            "posts in the store before / new files / stored by the ingest",
            f"{POSTS:,} / {result['added_files']:,} / {result['stored']:,}",
        ),
        Row("cold ingest by the bot's ingest process, wall", f"{result['ingest_seconds']:.1f} s"),
        Row("write batch (posts per transaction)", str(WRITE_BATCH)),
        Row("emulator validation", "OpenAPI spec on" if SPEC.exists() else "off (spec absent)"),
        *_phase_rows("idle", result["idle"], None),
        *_phase_rows("during ingest", result["during"], idle_p99),
        *_phase_rows("idle again, after", result["after"], idle_p99),
    ]
    for kind in ("/summary", "/tag", "/search", "autocomplete"):
        idle, during, after = ([t for k, t in result[phase] if k == kind] for phase in ("idle", "during", "after"))
        rows.append(
            Row(
                f"{kind} p99 idle / during / after (n={len(idle)} / {len(during)} / {len(after)})",
                f"{ms(percentile(idle, 99))} / {ms(percentile(during, 99))} / {ms(percentile(after, 99))}",
            )
        )
    rows.append(Row("emulator violations", str(result["violation_count"])))
    rows.append(Row("peak RSS of the bench process", f"{peak_rss_mb():.0f} MiB"))
    raw = {
        "idle_seconds": result["idle"],
        "during_seconds": result["during"],
        "after_seconds": result["after"],
        "ingest": result["ingest"],
        "ingest_seconds": result["ingest_seconds"],
    }
    emit(f"Interaction → callback latency at {POSTS:,} posts, idle and during a cold ingest", rows, raw, args.json)
    for phase in ("during", "after"):
        slowest = sorted(result[phase], key=lambda pair: pair[1], reverse=True)[:8]
        print(f"slowest {phase}:", "; ".join(f"{kind} {t * 1000:.0f} ms" for kind, t in slowest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
