"""Interaction latency: INTERACTION_CREATE → the bot's callback, through the loopback Discord, at 100,000 posts.

What is measured. The real bot (`KijiBot`, every cog) runs against the loopback Discord emulator of
`bot/emulator` exactly as the end-to-end tests run it (`tests/bot_harness.running_bot`). The bench
injects 1,000 interactions one at a time, shuffled: /summary (post id as autocomplete sends it, lengths mixed,
half of the posts with a stored summary), /tag (tags drawn by their use), /search (3+ character and
two-character queries, Japanese and English) and autocomplete (/summary's post option and /tag's tag option,
2-3 typed characters). Latency = from the emulator's `dispatched_at` stamp (taken just before it writes the
INTERACTION_CREATE frame to the gateway) to the moment the emulator's HTTP handler receives the callback
request (stamped on arrival, *before* the emulator parses and validates the body, so the emulator's own
OpenAPI validation of a big embed is not charged to the bot).

Baseline, measured in the same run with the same emulator set-up and the same stamps: a minimal discord.py
`Client` defined here whose one slash command `/ping` answers "pong" at once. That is the emulation's own
round trip (gateway frame → discord.py parsing and dispatch → aiohttp POST → emulator). /about of the real
bot (two COUNT queries and an embed) is reported as a second reference but is not the baseline: at 100,000
posts its COUNTs are not free. Goal: p99 ≤ baseline p99 + 50 ms (reported, never asserted).

The 100,000 posts. They are the synthetic posts of `bench/scale_bench.py` (its `Generator`: ~2 KB mixed
Japanese/English bodies, ~500 tags Zipf-distributed, 3-6 per post), written with `Store.write_batch` and
`PostRecord`s (tokens from `bot.content.search_tokens.index_tokens`) by that bench and cached in
/tmp/kiji-bench/scale; building
them takes ~10 minutes on 2 cores, so this bench reuses that database instead of building its own. It copies it
to /tmp/kiji-bench/interaction/<key>/ (key = this bench's version + the source database + the summariser
version) and prepares the copy so the bot's own start-up ingest is a no-op rather than a deletion:

* every post file the store knows is written into `<key>/site/_posts/` with the stored text as its bytes and
  the stored mtime, so size, mtime and content hash all match (an ingest of a folder missing them would remove
  the posts);
* every post must be marked as derived by the current cleaner (`DERIVED_VERSION`; ingest re-reads posts derived
  by another), since the mirrored files hold the cleaned text rather than Markdown with front matter; scale_bench
  writes it, and older stores are updated;
* one post in two gets cached lead-sentence summaries at the current `SUMMARIZER_VERSION` (1/3/5 sentences for
  short/standard/long), exactly the rows `Store.put_summaries` writes; /summary of the other half summarises
  the stored body on that first request, as the bot does for a post nobody asked about yet.

The bench checks the start-up ingest report (0 added/updated/removed) and refuses to measure otherwise.

Emulator: created WITH the OpenAPI spec (`../shared/discord-api/openapi.json`) when present, so every body the
bot sends is validated; violations are counted in the table.

`tests/` and the repo root are put on sys.path below because the harness and the emulator are test code
imported as a top-level module (`bot_harness`, as pytest's rootdir conftest does).

Run: `.venv/bin/python -m bench.interaction_latency [--json PATH] [--interactions 1000] [--baseline 300]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _p in (str(_ROOT), str(_ROOT / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from typing import Any  # noqa: E402

import discord  # noqa: E402
import yarl  # noqa: E402
from bot_harness import bot_settings, populate, running_bot, running_client  # noqa: E402
from discord import app_commands  # noqa: E402

from bench._common import Row, base_parser, emit, ms, peak_rss_mb, percentile, verdict  # noqa: E402
from bench.scale_bench import TWO_CHAR_QUERIES, cache_key, ensure_store, load_material  # noqa: E402
from bench.scale_bench import WORK as SCALE_WORK  # noqa: E402
from bot.content.summarize import SUMMARIZER_VERSION  # noqa: E402
from bot.emulator import DiscordEmulator  # noqa: E402
from bot.services.ingest import DERIVED_VERSION  # noqa: E402
from bot.store import Store  # noqa: E402

BENCH_VERSION = "interaction-v2"
WORK = Path("/tmp/kiji-bench/interaction")
SPEC = _ROOT.parent / "shared" / "discord-api" / "openapi.json"
POSTS = 100_000
SEED = 4242
GOAL_OVER_BASELINE_S = 0.050
STARTUP_ALLOWANCE_S = 600.0
_CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")
_SENTENCE = re.compile(r"[^\n。！？!?.]+[。！？!?.]")


# --------------------------------------------------------------------------- the emulator, with arrival stamps


def new_emulator() -> DiscordEmulator:
    return DiscordEmulator(spec_path=SPEC if SPEC.exists() else None)


def callback_arrived(emu: DiscordEmulator, interaction_id: int) -> float:
    """When the interaction's callback request *arrived* (loop time, before its body was read)."""
    for request in reversed(emu.requests):
        match = _CALLBACK.search(request.path)
        if match and int(match.group(1)) == interaction_id:
            return request.arrived_at
    raise LookupError(f"no callback request for interaction {interaction_id}")


# --------------------------------------------------------------------------- the 100,000-post store


def _source_db(posts: int = POSTS) -> Path:
    """scale_bench's cached store of `posts` posts: the current key, else any earlier build, else build it (once)."""
    current = SCALE_WORK / f"scale-{posts}-{cache_key(posts)}.db"
    if current.exists():
        return current
    # scale_bench's key hashes search_tokens.py's *source*; a refactor that keeps the tokens changes the key without
    # changing the data, so an earlier build is reused rather than spending 10 minutes rebuilding.
    earlier = sorted(SCALE_WORK.glob(f"scale-{posts}-*.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    if earlier:
        print(f"note: reusing {earlier[0].name} (scale_bench's key is now {cache_key(posts)})", file=sys.stderr)
        return earlier[0]
    return ensure_store(posts, rebuild=False)[0]


def _lead(text: str, count: int) -> tuple[str, ...]:
    return tuple(s.strip() for s in _SENTENCE.findall(text)[:count] if s.strip())


async def _migrate(db: Path) -> None:
    await (await Store.open(db)).close()


def prepare_world(posts: int = POSTS) -> tuple[Path, Path, float | None]:
    """(site folder, db path, seconds spent preparing or None when cached) of a world of `posts` posts."""
    source = _source_db(posts)
    key = f"{BENCH_VERSION}-{source.stem}-s{SUMMARIZER_VERSION}-d{DERIVED_VERSION}"
    home = WORK / key
    site, db = home / "site", home / "kiji.sqlite3"
    if (home / "READY").exists():
        return site, db, None
    started = time.perf_counter()
    print(f"preparing {home} (cached for next runs) …", file=sys.stderr)
    for stale in WORK.glob(f"{BENCH_VERSION}-scale-{posts}-*"):  # an older key's copy is 1.8 GB of dead weight
        shutil.rmtree(stale, ignore_errors=True)
    (site / "_posts").mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{db}{suffix}")
    asyncio.run(_migrate(db))  # a source store built by an older Kiji lacks the newer columns
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("BEGIN")
    # a no-op for a store scale_bench built with this DERIVED_VERSION; rewriting every row would
    # scatter the text columns' overflow pages and slow what this bench measures
    con.execute("UPDATE posts SET derived_version = ? WHERE derived_version != ?", (DERIVED_VERSION, DERIVED_VERSION))
    now = time.time()
    rows = []
    for post_id, path, text, size, mtime_ns, content_hash in con.execute(
        "SELECT id, path, text, file_size, file_mtime_ns, content_hash FROM posts"
    ):
        data = text.encode("utf-8")
        if len(data) != size:
            raise SystemExit(f"{path}: stored text is {len(data)} bytes, file_size says {size}: cannot mirror it")
        file = site / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
        os.utime(file, ns=(mtime_ns, mtime_ns))
        if post_id % 2 == 0:
            for length, count in (("short", 1), ("standard", 3), ("long", 5)):
                rows.append((post_id, length, SUMMARIZER_VERSION, content_hash, json.dumps(_lead(text, count)), now))
    con.executemany(
        "INSERT OR REPLACE INTO summaries (post_id, length, source, version, content_hash, sentences, created_at) "
        "VALUES (?, ?, 'extractive', ?, ?, ?, ?)",
        rows,
    )
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    (home / "READY").write_text(key + "\n")
    return site, db, time.perf_counter() - started


def plan_interactions(db: Path, count: int, rng: random.Random) -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(kind, command, options, focused option) × count, shuffled: a quarter of each kind."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    tags = con.execute(
        "SELECT t.name, count(*) FROM post_tags pt JOIN tags t ON t.id = pt.tag_id GROUP BY t.id"
    ).fetchall()
    max_id = con.execute("SELECT max(id) FROM posts").fetchone()[0]
    title_sample = [row[0] for row in con.execute("SELECT title FROM posts ORDER BY random() LIMIT 2000")]
    con.close()
    names, weights = [t[0] for t in tags], [t[1] for t in tags]
    material = load_material()
    ja = [w for w in material["ja_vocab"][:1500] if len(w) >= 3]
    en = [w for w in material["en_vocab"][:800] if len(w) >= 3]
    quarter = count // 4
    plan: list[tuple[str, str, dict[str, Any], str | None]] = []
    for i in range(quarter):
        post_id = rng.randint(1, max_id)
        options: dict[str, Any] = {"post": str(post_id)}
        if i % 3:
            options["length"] = ("short", "standard", "long")[i % 3]
        plan.append(("/summary", "summary", options, None))
    for tag in rng.choices(names, weights=weights, k=quarter):
        plan.append(("/tag", "tag", {"tag": tag}, None))
    for i in range(quarter):
        two_chars = i % 3 == 0  # a third two-character queries, the rest 3+ characters (ja/en half each)
        query = (
            rng.choice(TWO_CHAR_QUERIES) if two_chars else (rng.choice(ja) if rng.random() < 0.5 else rng.choice(en))
        )
        plan.append(("/search", "search", {"query": query}, None))
    for i in range(count - 3 * quarter):
        if i % 2:
            tag = rng.choices(names, weights=weights)[0]
            typed = tag[: rng.randint(1, 3)]
            plan.append(("autocomplete", "tag", {"tag": typed}, "tag"))
        else:
            title = rng.choice(title_sample)
            start = rng.randrange(max(1, len(title) - 3))
            plan.append(("autocomplete", "summary", {"post": title[start : start + rng.randint(2, 3)]}, "post"))
    rng.shuffle(plan)
    return plan


# --------------------------------------------------------------------------- measuring


async def one(emu: DiscordEmulator, command: str, options: dict[str, Any], focused: str | None) -> tuple[float, int]:
    """Inject one interaction; (seconds from dispatch to the callback's arrival, callback type)."""
    if focused is None:
        handle = await emu.slash_command(command, options, locale="ja", timeout_s=30)
    else:
        handle = await emu.autocomplete(command, focused, options, locale="ja", timeout_s=30)
    body = await handle.response(timeout_s=30)
    return callback_arrived(emu, handle.id) - handle.record.dispatched_at, int(body.get("type", 0))


@contextlib.asynccontextmanager
async def ping_client(emu: DiscordEmulator):  # type: ignore[no-untyped-def]
    """The baseline bot: plain discord.py with one slash command that answers at once."""
    # A plain client does not look up the gateway itself: point discord.py at the emulator.
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)

    class PingClient(discord.Client):
        def __init__(self) -> None:
            super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
            self.tree = app_commands.CommandTree(self)

            @self.tree.command(name="ping", description="Answer at once")
            async def ping(interaction: discord.Interaction) -> None:
                await interaction.response.send_message("pong")

        async def setup_hook(self) -> None:
            await self.tree.sync()

    async with running_client(emu, PingClient(), emu.token) as client:
        yield client


async def measure_baseline(samples: int) -> tuple[list[float], int]:
    emu = new_emulator()
    await emu.start()
    try:
        populate(emu)
        async with ping_client(emu):
            for _ in range(30):  # warm-up, untimed
                await one(emu, "ping", {}, None)
            times = [(await one(emu, "ping", {}, None))[0] for _ in range(samples)]
    finally:
        await emu.stop()
    return times, len(emu.violations)


async def measure_bot(
    site: Path, db: Path, plan: list, about_samples: int, database_url: str | None = None
) -> dict[str, Any]:  # type: ignore[type-arg]
    # Each run's emulator is a brand-new Discord application; the bot's sync hash is keyed by
    # application id, so it registers its commands there without help.
    emu = new_emulator()
    await emu.start()
    result: dict[str, Any] = {}
    try:
        populate(emu)
        started = time.perf_counter()
        settings = bot_settings(emu, site, db, database_url=database_url)  # None: the SQLite file `db`
        async with running_bot(emu, settings, STARTUP_ALLOWANCE_S) as bot:
            report = await bot.sync.synced_once()  # ready to serve, and every blog read
            result["startup_seconds"] = time.perf_counter() - started
            assert report is not None
            result["startup_ingest"] = report.as_json()
            if report.added or report.updated or report.removed:
                (db.parent / "READY").unlink(missing_ok=True)  # the cache no longer matches: rebuild next time
                raise SystemExit(f"the start-up ingest changed the store ({report.summary_line()}); not measuring")
            # Warm-up, untimed: the tag and title caches, SQLite's page cache, discord.py's code paths.
            for _kind, command, options, focused in plan[:40]:
                await one(emu, command, options, focused)
            about = [(await one(emu, "about", {}, None))[0] for _ in range(about_samples)]
            by_kind: dict[str, list[float]] = defaultdict(list)
            types: Counter[str] = Counter()
            slowest: list[tuple[float, str]] = []
            wall = time.perf_counter()
            for kind, command, options, focused in plan:
                elapsed, cb_type = await one(emu, command, options, focused)
                by_kind[kind].append(elapsed)
                types[f"{kind} → type {cb_type}"] += 1
                slowest.append((elapsed, f"{kind} {json.dumps(options, ensure_ascii=False)}"))
            result["wall_seconds"] = time.perf_counter() - wall
            result["about"] = about
            result["by_kind"] = dict(by_kind)
            result["callback_types"] = dict(types)
            result["slowest"] = [(round(s * 1000, 1), what) for s, what in sorted(slowest, reverse=True)[:12]]
    finally:
        await emu.stop()
    result["violations"] = [str(v) for v in emu.violations[:20]]
    result["violation_count"] = len(emu.violations)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--interactions", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=300, help="/ping samples on the minimal client")
    parser.add_argument("--about", type=int, default=100, help="/about samples on the real bot (reference)")
    args = parser.parse_args(argv)

    site, db, prepared = prepare_world()
    plan = plan_interactions(db, args.interactions, random.Random(SEED))
    print(f"baseline: {args.baseline} × /ping on a minimal discord.py client …", file=sys.stderr)
    baseline, baseline_violations = asyncio.run(measure_baseline(args.baseline))
    print(f"bot: {len(plan)} interactions at {POSTS:,} posts …", file=sys.stderr)
    bot = asyncio.run(measure_bot(site, db, plan, args.about))

    everything = [t for times in bot["by_kind"].values() for t in times]
    base_p50, base_p99 = percentile(baseline, 50), percentile(baseline, 99)
    p50, p99 = percentile(everything, 50), percentile(everything, 99)
    over = p99 - base_p99
    rows = [
        Row("posts in the store / start-up (no-op ingest)", f"{POSTS:,} / {bot['startup_seconds']:.1f} s"),
        Row("store preparation (cached)", "cached" if prepared is None else f"{prepared:.0f} s"),
        Row("emulator validation", "OpenAPI spec on" if SPEC.exists() else "off (spec absent)"),
        Row(f"baseline: /ping on a minimal client p50 (n={len(baseline)})", ms(base_p50)),
        Row("baseline: /ping p99", ms(base_p99)),
        Row(
            f"reference: /about on the bot p50 / p99 (n={len(bot['about'])})",
            f"{ms(percentile(bot['about'], 50))} / {ms(percentile(bot['about'], 99))}",
        ),
        Row(f"all interactions p50 (n={len(everything)})", ms(p50), ms(base_p50), f"{p50 / base_p50:.1f}×"),
        Row(
            "all interactions p99",
            ms(p99),
            ms(base_p99),
            f"{p99 / base_p99:.1f}× (+{over * 1000:.1f} ms)",
            "≤ baseline + 50 ms",
            verdict(over <= GOAL_OVER_BASELINE_S),
        ),
    ]
    for kind in ("/summary", "/tag", "/search", "autocomplete"):
        times = bot["by_kind"].get(kind, [])
        k50, k99 = percentile(times, 50), percentile(times, 99)
        rows.append(
            Row(
                f"{kind} p50 / p99 (n={len(times)})",
                f"{ms(k50)} / {ms(k99)}",
                ms(base_p99),
                f"+{(k99 - base_p99) * 1000:.1f} ms at p99",
                "≤ baseline + 50 ms",
                verdict(k99 - base_p99 <= GOAL_OVER_BASELINE_S),
            )
        )
    rows.append(Row("emulator violations (bot / baseline)", f"{bot['violation_count']} / {baseline_violations}"))
    rows.append(Row("peak RSS of the bench process", f"{peak_rss_mb():.0f} MiB"))
    raw = {
        "baseline_seconds": baseline,
        "about_seconds": bot["about"],
        "by_kind_seconds": bot["by_kind"],
        "callback_types": bot["callback_types"],
        "slowest_ms": bot["slowest"],
        "startup_ingest": bot["startup_ingest"],
        "violations": bot["violations"],
        "wall_seconds": bot["wall_seconds"],
    }
    emit(f"Interaction → callback latency at {POSTS:,} posts", rows, raw, args.json)
    print("callback types:", ", ".join(f"{k}: {v}" for k, v in sorted(bot["callback_types"].items())))
    print("slowest:", "; ".join(f"{t} ms {what}" for t, what in bot["slowest"]))
    if bot["violations"]:
        print("violations:", *bot["violations"], sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
