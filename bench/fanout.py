"""Fan-out: one new post announced in 1,000 channels through the loopback Discord at 50 requests/s.

Set-up. The loopback Discord emulator of `bot/emulator` gets one guild with 1,000 text channels and
Discord's global limit emulated (`emu.global_rate_limit = 50`: a 51st request inside any one second is answered
429 with `X-RateLimit-Global` and counted in `emu.rate_limited_count`). Before the bot starts, 1,000
subscriptions (one per channel, no filters) are created with `Store.subscribe` — the call /subscribe makes.
Then the real bot (`KijiBot` with every cog) is started exactly as the end-to-end tests start it
(`tests/bot_harness.running_bot`) on an empty posts folder, and its first (empty) announcement round is let
finish.

Measured, twice:

1. a new post file is written into the posts folder and the bot's post watcher woken (`bot.sync.request()`,
   what a file event does); the clock starts at the wake, so the ingest of the new file is inside it, and
   stops at the emulator's creation time of the last channel's message (the bench then also checks every
   channel got exactly one). Target: ≤ 1.1 × the rate-limit floor, 1,000 / 50 = 20 s.
2. the same with a second post while `tracemalloc` traces the process, for the Python-heap peak of a fan-out
   (tracing slows Python down, so this run's time is shown but not judged).

Reported too: 429s the bot drew (every request to the emulator is the bot's), nonce duplicates
(`emu.nonce_duplicates`) and channels with more than one copy, and the process RSS before, during (sampled
every 50 ms; the peak) and after each fan-out. The emulator runs in this process, so its record of 2,000
messages is in those numbers; the tracemalloc peak is the honest "heap growth during a fan-out" figure.

The emulator validates every request body against Discord's OpenAPI spec (`../shared/discord-api/openapi.json`)
when that file is present; violations are counted in the table.

`tests/` and the repo root are put on sys.path below because the harness, the emulator and the test factories
are test code imported as top-level packages (`bot_harness`, `factories`), as pytest's
rootdir conftest does.

With `--templates`, every subscription has a template of its own (its channel's number is part of the text, so
no two are the same) and the layouts are mixed: a third each `embed` with the template above the embed, `card`
(Components V2) and `text`, the templates cycling through a short one, one with fallbacks and a date format,
and one using the short summary — issue 23's "fan-out to 1,000 channels with per-subscription templates ≤ 1.1 ×
the rate-limit floor".

Run: `.venv/bin/python -m bench.fanout [--json PATH] [--channels 1000] [--templates]`.
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
import shutil  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from datetime import datetime  # noqa: E402
from typing import Any  # noqa: E402

from bot_harness import bot_settings, running_bot  # noqa: E402
from factories import JA_BODY, write_post  # noqa: E402

from bench._common import Row, base_parser, emit, peak_rss_mb, secs, verdict  # noqa: E402
from bot.emulator import MANAGE_GUILD, DiscordEmulator  # noqa: E402
from bot.store import Store  # noqa: E402

WORK = Path("/tmp/kiji-bench/fanout")
SPEC = _ROOT.parent / "shared" / "discord-api" / "openapi.json"
GLOBAL_LIMIT = 50
TARGET_RATIO = 1.1
LAYOUTS = ("embed", "card", "text")
TEMPLATES = (
    "{role} #{n} 新着: **{title}**\n{url}",
    "#{n} **{title}** — {author||blog}\n{description||summary}\n{date:%Y-%m-%d %H:%M} · {reading_time} 分\n{url}",
    "#{n} {title}\n> {summary:short}\nタグ: {tags||categories}\n{url}",
)


def subscription_look(index: int) -> tuple[str, str]:
    """(layout, template) of the index-th subscription in --templates mode: every template its own."""
    template = TEMPLATES[(index // len(LAYOUTS)) % len(TEMPLATES)].replace("#{n}", f"#{index}")
    return LAYOUTS[index % len(LAYOUTS)], template


def rss_mib() -> float:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def sample_rss(peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mib())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def fan_out(
    emu: DiscordEmulator, bot: Any, posts_dir: Path, channels: list[int], n: int, *, traced: bool, timeout_s: float
) -> dict[str, Any]:
    """Write post number n, wake the post watcher, wait until every channel has n messages."""
    limited_before, duplicates_before = emu.rate_limited_count, emu.nonce_duplicates
    requests_before = len(emu.requests)
    write_post(
        posts_dir / "_posts",
        f"2026-11-2{n}-fanout-{n}.md",
        f"ファンアウト試験 第{n}号: Llama 4 の推論コスト",
        JA_BODY * 4,
        tags="[AI, LLM, Meta]",
        date=f"2026-11-2{n} 09:00:00 +0900",
    )
    rss_before = rss_mib()
    peak = [rss_before]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(peak, stop))
    if traced:
        tracemalloc.start()
    expected = n * len(channels)
    started_wall, started = time.time(), time.perf_counter()
    bot.sync.request()  # ingest, then the announcer's round
    completed = True
    try:
        await emu.wait_for(
            lambda: sum(len(emu.sent_messages.get(c, ())) for c in channels) >= expected,
            timeout_s=timeout_s,
            what=f"{expected} announcements",
        )
    except TimeoutError:  # reported (with how many arrived), not raised: the table says what happened
        completed = False
    waited = time.perf_counter() - started
    traced_peak = traced_current = None
    if traced:
        traced_current, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    stop.set()
    await sampler
    await asyncio.sleep(0.2)  # let the last mark_sent land before reading the ledger
    reached = [c for c in channels if len(emu.sent_messages.get(c, ())) >= n]
    stamps = [datetime.fromisoformat(emu.sent_messages[c][-1]["timestamp"]).timestamp() for c in reached]
    firsts = [datetime.fromisoformat(emu.sent_messages[c][n - 1]["timestamp"]).timestamp() for c in reached]
    over = sum(1 for c in channels if len(emu.sent_messages.get(c, ())) > n)
    return {
        "seconds_to_first_message": (min(firsts) - started_wall) if firsts else float("nan"),
        "completed": completed,
        "channels_reached": len(stamps),
        "seconds": (max(stamps) - started_wall) if completed else float("nan"),
        "seconds_until_wait_returned": waited,
        "rate_limited": emu.rate_limited_count - limited_before,
        "nonce_duplicates": emu.nonce_duplicates - duplicates_before,
        "channels_with_extra_copies": over,
        "requests": len(emu.requests) - requests_before,
        "rss_before_mib": rss_before,
        "rss_peak_mib": peak[0],
        "rss_after_mib": rss_mib(),
        "tracemalloc_peak_mib": traced_peak / 2**20 if traced_peak is not None else None,
        "tracemalloc_retained_mib": traced_current / 2**20 if traced_current is not None else None,
    }


async def run(channel_count: int, templates: bool = False) -> dict[str, Any]:
    shutil.rmtree(WORK, ignore_errors=True)
    posts_dir, db_path = WORK / "posts", WORK / "kiji.sqlite3"
    (posts_dir / "_posts").mkdir(parents=True)

    emu = DiscordEmulator(spec_path=SPEC if SPEC.exists() else None)
    await emu.start()
    result: dict[str, Any] = {"validation": SPEC.exists()}
    # Generous (3× the floor + 30 s) but bounded, so a stalled round ends the bench in minutes.
    timeout_s = 3 * channel_count / GLOBAL_LIMIT + 30
    try:
        guild = emu.add_guild("Fan-out server", locale="ja")
        channels = [emu.add_channel(guild, f"news-{i:04d}") for i in range(channel_count)]
        emu.add_member(guild, name="admin", permissions=MANAGE_GUILD)
        emu.add_member(guild, name="reader")
        emu.global_rate_limit = GLOBAL_LIMIT

        store = await Store.open(db_path)
        for index, channel in enumerate(channels):
            if templates:
                layout, template = subscription_look(index)
                await store.subscribe(guild, channel, "text", layout=layout, template=template)
            else:
                await store.subscribe(guild, channel, "text")
        await store.close()
        await asyncio.sleep(0.01)  # posts first seen from now on are strictly newer than the subscriptions

        rss_start = rss_mib()
        async with running_bot(emu, bot_settings(emu, posts_dir, db_path)) as bot:
            # emu.wait_for re-checks only on emulator events; the announcer's round counter is bot state.
            deadline = time.monotonic() + 30
            while bot.announcer.rounds < 1:
                if time.monotonic() > deadline:
                    raise TimeoutError("the announcer's first (empty) round did not finish in 30 s")
                await asyncio.sleep(0.02)
            result["startup_rate_limited"] = emu.rate_limited_count
            result["rss_bot_started_mib"] = rss_mib()
            result["first"] = await fan_out(emu, bot, posts_dir, channels, 1, traced=False, timeout_s=timeout_s)
            result["second"] = await fan_out(emu, bot, posts_dir, channels, 2, traced=True, timeout_s=timeout_s)
            sent = [d for d in await bot.store.deliveries() if d.state == "sent"]
            result["ledger_sent"] = len(sent)
        result["rss_start_mib"] = rss_start
    finally:
        await emu.stop()
    result["violation_count"] = len(emu.violations)
    result["violations"] = [str(v) for v in emu.violations[:20]]
    result["rate_limited_total"] = emu.rate_limited_count
    return result


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument(
        "--templates", action="store_true", help="a template of its own per subscription, layouts mixed"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.channels, args.templates))
    result["templates"] = args.templates
    looks = "own template each; embed / card / text mixed" if args.templates else "default embed"
    floor = args.channels / GLOBAL_LIMIT
    first, second = result["first"], result["second"]
    ratio = first["seconds"] / floor
    rows = [
        Row("channels / subscriptions / emulated global limit", f"{args.channels:,} / {args.channels:,} / 50 req/s"),
        Row("announcements", looks),
        Row("emulator validation", "OpenAPI spec on" if result["validation"] else "off (spec absent)"),
        Row(
            "fan-out 1: wake (ingest included) → last channel's message",
            secs(first["seconds"]),
            f"{floor:.0f} s floor",
            f"{ratio:.3f}×",
            f"≤ {TARGET_RATIO}× floor",
            verdict(ratio <= TARGET_RATIO),
        ),
        Row(
            "fan-out 1 / 2: channels that got the post",
            f"{first['channels_reached']:,} / {second['channels_reached']:,}",
            "",
            "",
            f"{args.channels:,} each",
            verdict(first["completed"] and second["completed"]),
        ),
        Row("fan-out 1: wake → first message (ingest, queueing)", secs(first["seconds_to_first_message"])),
        Row("fan-out 1: requests the bot made", f"{first['requests']:,}"),
        Row(
            "fan-out 1: 429s drawn by the bot",
            str(first["rate_limited"]),
            "",
            "",
            "0",
            verdict(first["rate_limited"] == 0),
        ),
        Row(
            "fan-out 1: nonce duplicates / channels with >1 copy",
            f"{first['nonce_duplicates']} / {first['channels_with_extra_copies']}",
            "",
            "",
            "0 / 0",
            verdict(first["nonce_duplicates"] == 0 and first["channels_with_extra_copies"] == 0),
        ),
        Row(
            "fan-out 1: RSS before / peak / after",
            f"{first['rss_before_mib']:.0f} / {first['rss_peak_mib']:.0f} / {first['rss_after_mib']:.0f} MiB",
        ),
        Row(
            "fan-out 2 (tracemalloc on): wake → last message",
            secs(second["seconds"]),
            f"{floor:.0f} s floor",
            f"{second['seconds'] / floor:.3f}×",
            "(traced: not judged)",
        ),
        Row(
            "fan-out 2: 429s / nonce duplicates / channels with >2 copies",
            f"{second['rate_limited']} / {second['nonce_duplicates']} / {second['channels_with_extra_copies']}",
            "",
            "",
            "0 / 0 / 0",
            verdict(
                second["rate_limited"] == 0
                and second["nonce_duplicates"] == 0
                and second["channels_with_extra_copies"] == 0
            ),
        ),
        Row(
            "fan-out 2: tracemalloc peak / retained after",
            f"{second['tracemalloc_peak_mib']:.1f} / {second['tracemalloc_retained_mib']:.1f} MiB",
        ),
        Row(
            "fan-out 2: RSS before / peak / after",
            f"{second['rss_before_mib']:.0f} / {second['rss_peak_mib']:.0f} / {second['rss_after_mib']:.0f} MiB",
            f"{first['rss_after_mib']:.0f} MiB after fan-out 1",
            f"{second['rss_after_mib'] - first['rss_after_mib']:+.0f} MiB",
        ),
        Row("RSS at start / bot started", f"{result['rss_start_mib']:.0f} / {result['rss_bot_started_mib']:.0f} MiB"),
        Row("peak RSS of the process (ru_maxrss)", f"{peak_rss_mb():.0f} MiB"),
        Row(
            "ledger: deliveries sent",
            f"{result['ledger_sent']:,}",
            "",
            "",
            f"{2 * args.channels:,}",
            verdict(result["ledger_sent"] == 2 * args.channels),
        ),
        Row("emulator violations / 429s in total", f"{result['violation_count']} / {result['rate_limited_total']}"),
    ]
    title = f"Fan-out of one post to {args.channels:,} channels at 50 requests/s"
    emit(title + (", per-subscription templates" if args.templates else ""), rows, result, args.json)
    if result["violations"]:
        print("violations:", *result["violations"], sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
