"""Rendering one announcement: a subscription's template in each layout, against today's default embed.

Set-up. The example post shipped with Kiji (`bot/examples/posts`, a 2,900-word Japanese article with
tags, categories and an author) is ingested into a real SQLite store with `ingest`, and its short and
standard summaries are made once by the real `SummaryService` (what the bot shows). The timed loops then
read those two summaries from a dict: summarising is the summariser's cost, not rendering's, and both
sides of the ratio get them the same way.

Measured (each a median over `--renders` calls, interleaved in rounds so that a slow moment of the shared
machine falls on every variant alike):

* baseline — today's default embed: `post_embed` and its `to_dict()` (what discord.py serialises);
* per layout (`embed` with a template above it, `card` with Components V2, `text`) and two templates
  (a short one and a long one using every placeholder with fallbacks and a date format):
  `render_announcement` of a style parsed once, then `Announcement.payload()` — what the announcer does
  per send since a subscription's style is parsed once;
* the same with the template parsed on every send (`AnnouncementStyle.of` inside the loop), for
  comparison with the parse-once path.

Target (issue 23): rendering a template or a card for one post ≤ 1 ms median; the ratio to the default
embed in the same run is reported beside it.

Run: `.venv/bin/python -m bench.announce_render [--json PATH] [--renders 2000]`.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench._common import ROOT, Row, base_parser, emit, verdict
from bot.discord.announcement import AnnouncementStyle, render_announcement
from bot.discord.ui import post_embed, summary_parts
from bot.models import Post
from bot.services.ingest import ingest
from bot.services.summaries import SummaryService
from bot.sources.site_config import load_site
from bot.store import Store

EXAMPLE = ROOT / "bot" / "examples" / "posts"
TARGET_MS = 1.0
LOCALE = "ja"
TZ = ZoneInfo("Asia/Tokyo")
TEMPLATES = {
    "short": "{role} 新着: **{title}**\n{url}",
    "every placeholder": (
        "{role} 📰 **{title}** — {blog||author}\n"
        "{description||summary:short}\n\n{summary}\n"
        "{date:%Y年%m月%d日 %H:%M} · {reading_time} 分 · {author||blog}\n"
        "タグ: {tags||categories} / カテゴリ: {categories}\n{url}"
    ),
}
LAYOUT_NAMES = ("embed", "card", "text")


async def _post_and_summaries(work: Path) -> tuple[Post, dict[str, tuple[str, str]]]:
    posts = work / "posts"
    shutil.copytree(EXAMPLE, posts)
    store = await Store.open(work / "kiji.sqlite3")
    try:
        await ingest(store, load_site(posts))
        (post,) = await store.all_posts()
        service = SummaryService(store)
        made = {length: summary_parts(await service.shown(post, length), LOCALE) for length in ("short", "standard")}
    finally:
        await store.close()
    return post, made


async def _median_ms(step: Callable[[], Awaitable[Any]], count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run(renders: int, rounds: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kiji-bench-render-") as scratch:
        post, made = await _post_and_summaries(Path(scratch))

    async def summarize(post: Post, length: str, locale: str) -> tuple[str, str]:
        return made[length]

    async def default_embed() -> Any:
        summary, footer = await summarize(post, "standard", LOCALE)
        return post_embed(post, summary, footer, tz=TZ, locale=LOCALE, blog="Kiji blog").to_dict()

    def rendering(layout: str, template: str | None, parse_each_time: bool) -> Callable[[], Awaitable[Any]]:
        parsed = AnnouncementStyle.of(layout, template)

        async def step() -> Any:
            style = AnnouncementStyle.of(layout, template) if parse_each_time else parsed
            announcement = await render_announcement(
                post, style, summarize=summarize, locale=LOCALE, blog_tz=TZ, blog="Kiji blog", role_id=1234
            )
            return announcement.payload()

        return step

    variants: dict[str, Callable[[], Awaitable[Any]]] = {"baseline: default embed": default_embed}
    variants["embed, no template (today's announcement)"] = rendering("embed", None, False)
    for name, template in TEMPLATES.items():
        for layout in LAYOUT_NAMES:
            variants[f"{layout}, template '{name}'"] = rendering(layout, template, False)
    variants["card, no template"] = rendering("card", None, False)
    variants["text, template 'every placeholder', parsed per send"] = rendering(
        "text", TEMPLATES["every placeholder"], True
    )
    sizes = {name: len(str(await step())) for name, step in variants.items()}  # warm-up, and a size check
    medians: dict[str, list[float]] = {name: [] for name in variants}
    per_round = max(1, renders // rounds)
    for _ in range(rounds):
        for name, step in variants.items():
            medians[name].append(await _median_ms(step, per_round))
    return {
        "post": post.title,
        "renders_per_variant": per_round * rounds,
        "median_ms": {name: statistics.median(values) * 1000 for name, values in medians.items()},
        "payload_chars": sizes,
    }


def ms(value_ms: float) -> str:
    return f"{value_ms:.3f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--renders", type=int, default=2000, help="renders per variant (default 2000)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.renders))
    medians = result["median_ms"]
    baseline = medians["baseline: default embed"]
    rows = [Row("post", result["post"]), Row("renders per variant", f"{result['renders_per_variant']:,}")]
    for name, value in medians.items():
        if name.startswith("baseline"):
            rows.append(Row(name + " (post_embed + to_dict)", ms(value)))
            continue
        rows.append(
            Row(
                f"{name}: render + payload, median ({result['payload_chars'][name]:,} chars)",
                ms(value),
                ms(baseline),
                f"{value / baseline:.2f}×",
                f"≤ {TARGET_MS:g} ms",
                verdict(value <= TARGET_MS),
            )
        )
    emit("Rendering one announcement from a template", rows, result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
