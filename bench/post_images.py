"""What a post's picture costs: finding it at ingest, and the card's thumbnail at render time.

`python -m bench.post_images [--repeat N] [--json PATH]`, on the 61-post sample (../shared/corpus-sample):

- finding the picture (`post_image`: front matter `image` resolved on the site, else the body's
  first image) per post, against Jekyll's reading of the same post (`parse_post`, which now
  includes it) in the same run: the share ingest spends on pictures;
- rendering the card of a post with a picture (a Section with a Thumbnail) against today's embed
  of the same post, per render, medians: the issue's bar is ≤ 1 ms for a card.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from zoneinfo import ZoneInfo

from bench._common import CORPUS, Row, base_parser, emit, verdict
from bot.discord.announcement import AnnouncementStyle, render_announcement
from bot.models import Post
from bot.sources.post_reader import parse_post, post_image
from bot.sources.site_config import load_site

CARD_TARGET_SECONDS = 0.001


def _per_item(work, items: list, repeat: int) -> float:
    """Median over `repeat` rounds of the seconds one item takes."""
    rounds = []
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            work(item)
        rounds.append((time.perf_counter() - started) / len(items))
    return statistics.median(rounds)


def _post(parsed) -> Post:  # type: ignore[no-untyped-def]
    return Post(
        path=parsed.path, jekyll_id=parsed.id, url=parsed.url, abs_url=parsed.abs_url, slug=parsed.slug,
        title=parsed.title, date_utc=parsed.date.timestamp(), date_iso=parsed.date.isoformat(), tags=parsed.tags,
        categories=parsed.categories, author=parsed.author, excerpt=parsed.excerpt, description=parsed.description,
        reading_time=parsed.reading_time or 5, id=1, image=parsed.image,
    )  # fmt: skip


async def _summarize(post: Post, length: str, locale: str) -> tuple[str, str]:
    return (post.description or post.title), "Kiji's summary"


def _render(post: Post, style: AnnouncementStyle) -> None:
    asyncio.run(
        render_announcement(post, style, summarize=_summarize, locale="ja", blog_tz=ZoneInfo("Asia/Tokyo"))
    ).payload()


def measure(repeat: int) -> tuple[list[Row], dict[str, object]]:
    site = load_site(CORPUS)
    files = [(path.read_bytes(), f"_posts/{path.name}") for path in sorted((CORPUS / "_posts").iterdir())]
    parsed = [parse_post(data, name, site) for data, name in files]
    reading = _per_item(lambda item: parse_post(item[0], item[1], site), files, repeat)
    finding = _per_item(lambda p: post_image(p.front_matter.get("image"), p.body, site, p.abs_url), parsed, repeat)
    posts = [_post(p) for p in parsed if p.image]
    card, embed = AnnouncementStyle.of("card", None), AnnouncementStyle.of("embed", None)
    carded = _per_item(lambda post: _render(post, card), posts, repeat)
    embedded = _per_item(lambda post: _render(post, embed), posts, repeat)
    rows = [
        Row("finding the picture, per post", f"{finding * 1e6:.1f} µs", f"parse_post {reading * 1e3:.3f} ms",
            f"{finding / reading:.3f}×"),
        Row("card with a thumbnail, per render", f"{carded * 1e3:.3f} ms", f"embed {embedded * 1e3:.3f} ms",
            f"{carded / embedded:.2f}×", "≤ 1 ms", verdict(carded <= CARD_TARGET_SECONDS)),
    ]  # fmt: skip
    raw: dict[str, object] = {
        "posts": len(files),
        "posts_with_picture": len(posts),
        "parse_post_s": reading,
        "post_image_s": finding,
        "card_s": carded,
        "embed_s": embedded,
        "repeat": repeat,
    }
    return rows, raw


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds over the sample (median taken)")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"needs the sample corpus at {CORPUS}", file=sys.stderr)
        return 2
    rows, raw = measure(args.repeat)
    emit("A post's picture: finding it at ingest, the card's thumbnail at render", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
