"""Scale benchmark: tag look-up and search over 100,000 synthetic posts.

The store is built by `Store.write_batch` with `PostRecord`s made directly (Markdown parsing
is bypassed: it is not what this measures), in a child process, and cached in /tmp under a
key made of this generator's version, the post count, the tokeniser source and the schema,
so reruns only measure. Bodies are ~2 KB (UTF-8) of mixed Japanese and English: sentences
from the corpus sample interleaved with words drawn Zipf-wise from its vocabulary. Each post
has 3-6 tags drawn Zipf-wise from ~500.

The measuring process then times `posts_by_tag(tag, 10)` for ~500 tags weighted by use,
`search()` for ~300 queries of 3+ characters and ~300 of 2 characters, and reports its own
peak RSS. Targets: tag p99 <= 5 ms, search p99 <= 50 ms (3+ chars) / <= 150 ms (2 chars),
peak RSS <= 300 MB.

Run: `.venv/bin/python -m bench.scale_bench [--json PATH] [--posts 100000] [--rebuild]`.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import itertools
import multiprocessing
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench._common import CORPUS, ROOT, Row, base_parser, emit, ms, peak_rss_mb, percentile, verdict
from bot.content import search_tokens
from bot.models import FileState, PostRecord
from bot.services.ingest import DERIVED_VERSION
from bot.store.database import MIGRATIONS, Store

GENERATOR_VERSION = "scale-v2"
WORK = Path("/tmp/kiji-bench/scale")
BODY_BYTES = 2048
TAG_COUNT = 500
BATCH = 2000
SEED = 20260

TARGET_TAG_P99 = 0.005
TARGET_SEARCH_P99 = 0.050
TARGET_SEARCH2_P99 = 0.150
TARGET_RSS_MB = 300.0

# Two-character queries readers of a Japanese AI blog actually type.
TWO_CHAR_QUERIES = (
    "AI", "ML", "EU", "UI", "推論", "学習", "生成", "企業", "導入", "市場", "技術", "活用",
    "投資", "規制", "医療", "開発", "日本", "経営", "課題", "効率", "人材", "戦略", "半導",
    "動画", "音声", "検索", "金融", "製造", "倫理", "安全",
)  # fmt: skip

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
_KATAKANA_WORD = re.compile(r"[\u30a0-\u30ff]{3,10}")
_KANJI_WORD = re.compile(r"[\u4e00-\u9fff]{2,6}")
_ASCII_WORD = re.compile(r"\b[A-Za-z][A-Za-z0-9]{2,14}\b")
_MARKUP = re.compile(r"[#*`>|\[\]()_~]+|^\s*[-+]\s+|^\s*\d+\.\s+|https?://\S+", re.M)
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)\s+")


# --------------------------------------------------------------------------- material


def _bodies_and_front() -> tuple[list[str], list[str]]:
    bodies, fronts = [], []
    for path in sorted((CORPUS / "_posts").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if text.startswith("---\n") and "\n---\n" in text[4:]:
            front, body = text[4:].split("\n---\n", 1)
        else:
            front, body = "", text
        fronts.append(front)
        bodies.append(body)
    return bodies, fronts


def load_material() -> dict[str, list[str]]:
    """Sentences, vocabulary and tag names taken from the corpus sample."""
    bodies, fronts = _bodies_and_front()
    sentences: set[str] = set()
    ja_words: dict[str, int] = {}
    en_words: dict[str, int] = {}
    for body in bodies:
        plain = _MARKUP.sub(" ", body)
        for line in plain.splitlines():
            for sentence in _SENTENCE_END.split(line.strip()):
                sentence = sentence.strip()
                if 12 <= len(sentence) <= 200:
                    sentences.add(sentence)
        for word in itertools.chain(_KATAKANA_WORD.findall(plain), _KANJI_WORD.findall(plain)):
            ja_words[word] = ja_words.get(word, 0) + 1
        for word in _ASCII_WORD.findall(plain):
            en_words[word] = en_words.get(word, 0) + 1
    tags: list[str] = []
    for front in fronts:
        match = re.search(r"^tags:\s*\[(.*)\]", front, re.M)
        if match:
            tags.extend(t.strip().strip("\"'") for t in match.group(1).split(","))
    real_tags = sorted({t for t in tags if t})
    # Most used words first: their rank drives the Zipf draw.
    ja_vocab = [w for w, _ in sorted(ja_words.items(), key=lambda kv: (-kv[1], kv[0]))][:4000]
    en_vocab = [w for w, _ in sorted(en_words.items(), key=lambda kv: (-kv[1], kv[0]))][:2000]
    all_tags = dict.fromkeys(real_tags)
    for i, word in enumerate(itertools.cycle(ja_vocab[:200] + en_vocab[:200])):
        if len(all_tags) >= TAG_COUNT:
            break
        all_tags.setdefault(f"{word}{'' if i < 400 else i}")
    return {
        "sentences": sorted(sentences),
        "ja_vocab": ja_vocab,
        "en_vocab": en_vocab,
        "tags": list(all_tags),
    }


def _zipf_cumulative(n: int, s: float = 1.05) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


class Generator:
    def __init__(self, material: dict[str, list[str]]) -> None:
        self.m = material
        self.ja_cum = _zipf_cumulative(len(material["ja_vocab"]))
        self.en_cum = _zipf_cumulative(len(material["en_vocab"]))
        self.tag_cum = _zipf_cumulative(len(material["tags"]), 1.0)
        self.now = 1_780_000_000.0  # fixed, in the past of any run of this benchmark

    def _zipf(self, rng: random.Random, items: list[str], cum: list[float]) -> str:
        return items[bisect.bisect_left(cum, rng.random() * cum[-1])]

    def body(self, rng: random.Random) -> str:
        parts: list[str] = []
        size = 0
        while size < BODY_BYTES:
            if rng.random() < 0.65:
                piece = rng.choice(self.m["sentences"])
            else:
                words = []
                for _ in range(rng.randint(4, 10)):
                    if rng.random() < 0.6:
                        words.append(self._zipf(rng, self.m["ja_vocab"], self.ja_cum))
                    else:
                        words.append(self._zipf(rng, self.m["en_vocab"], self.en_cum))
                piece = " ".join(words) + ("。" if rng.random() < 0.7 else ".")
            parts.append(piece)
            size += len(piece.encode("utf-8")) + 1
        return "\n".join(parts)

    def tags(self, rng: random.Random) -> tuple[str, ...]:
        want = rng.randint(3, 6)
        chosen: dict[str, None] = {}
        while len(chosen) < want:
            chosen[self._zipf(rng, self.m["tags"], self.tag_cum)] = None
        return tuple(chosen)

    def record(self, i: int) -> PostRecord:
        rng = random.Random(SEED * 1_000_003 + i)
        date_utc = self.now - rng.random() * 10 * 365 * 86400
        date_iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(date_utc))
        title_words = [self._zipf(rng, self.m["ja_vocab"], self.ja_cum) for _ in range(3)]
        english = self._zipf(rng, self.m["en_vocab"], self.en_cum)
        title = f"{title_words[0]}と{english}の{title_words[1]}{title_words[2]} #{i}"
        body = self.body(rng)
        slug = f"synthetic-{i}"
        url = f"/{date_iso[:4]}/{date_iso[5:7]}/{date_iso[8:10]}/{slug}/"
        data = body.encode("utf-8")
        return PostRecord(
            path=f"_posts/{date_iso[:10]}-{slug}.md",
            jekyll_id=url.rstrip("/"),
            url=url,
            abs_url=f"https://example.com{url}",
            slug=slug,
            title=title,
            date_utc=date_utc,
            date_iso=date_iso,
            tags=self.tags(rng),
            categories=(rng.choice(("AI最新ニュース", "AI技術ガイド", "AI導入戦略", "業界別AI活用", "導入事例")),),
            author="ALLFORCES編集部",
            excerpt=body[:120],
            description=None,
            reading_time=max(1, len(body) // 600),
            text=body,
            title_tokens=search_tokens.index_tokens(title),
            body_tokens=search_tokens.index_tokens(body),
            file=FileState(len(data), int(date_utc * 1e9), hashlib.blake2b(data, digest_size=16).hexdigest()),
            derived_version=DERIVED_VERSION,  # as ingest would: a start-up ingest has nothing to re-derive
        )


_GENERATOR: Generator | None = None


def _make_records(start: int, stop: int) -> list[PostRecord]:
    global _GENERATOR
    if _GENERATOR is None:
        _GENERATOR = Generator(load_material())
    return [_GENERATOR.record(i) for i in range(start, stop)]


# --------------------------------------------------------------------------- build (child process)


# Tokenised to key the cache: a tokeniser change that alters the index rebuilds the store,
# a refactor that does not (same tokens) keeps it.
_TOKENISER_PROBE = "生成AIの推論最適化：ＲＡＧとLLM-Agents（2026年）、ﾃｽﾄ々 Ünïcode café x86_64 ｶﾀｶﾅ한국어"


def cache_key(posts: int) -> str:
    """The version string of a cached store: generator, size, tokeniser behaviour, schema."""
    digest = hashlib.sha256()
    for part in (GENERATOR_VERSION, str(posts), search_tokens.index_tokens(_TOKENISER_PROBE), *MIGRATIONS):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def build(db_path: Path, posts: int) -> None:
    partial = db_path.with_suffix(".partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    asyncio.run(_build(partial, posts))
    partial.rename(db_path)


async def _build(partial: Path, posts: int) -> None:
    store = await Store.open(partial)
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    ranges = [(i, min(i + BATCH, posts)) for i in range(0, posts, BATCH)]
    # Records are generated in a forked worker while this process writes the previous batch.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        # At most two batches in flight, so memory stays flat however many posts are built.
        pending = [loop.run_in_executor(pool, _make_records, a, b) for a, b in ranges[:2]]
        for done in range(1, len(ranges) + 1):
            records = await pending.pop(0)
            if done + 1 < len(ranges) + 1 and len(ranges) > done + 1:
                pending.append(loop.run_in_executor(pool, _make_records, *ranges[done + 1]))
            await store.write_batch(records, now=1_780_000_000.0)
            del records
            print(f"\r  built {done * BATCH:,}/{posts:,} posts in {time.perf_counter() - started:.0f}s", end="",
                  file=sys.stderr)  # fmt: skip
    print(file=sys.stderr)
    await store.close()


def ensure_store(posts: int, rebuild: bool) -> tuple[Path, float | None]:
    """The cached store for `posts` posts, built in a child process when missing."""
    WORK.mkdir(parents=True, exist_ok=True)
    db_path = WORK / f"scale-{posts}-{cache_key(posts)}.db"
    if db_path.exists() and not rebuild:
        return db_path, None
    db_path.unlink(missing_ok=True)
    print(f"building {db_path} (cached for next runs) …", file=sys.stderr)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bench.scale_bench", "--build-only", "--posts", str(posts)], check=True, cwd=ROOT
    )
    return db_path, time.perf_counter() - started


# --------------------------------------------------------------------------- measure


def queries(material: dict[str, list[str]], rng: random.Random, count: int) -> tuple[list[str], list[str]]:
    """(3+ character queries, 2 character queries), all words present in the corpus."""
    ja = [w for w in material["ja_vocab"][:1500] if len(w) >= 3]
    en = [w for w in material["en_vocab"][:800] if len(w) >= 3]
    long_queries = [rng.choice(ja) if rng.random() < 0.5 else rng.choice(en) for _ in range(count)]
    short_queries = [rng.choice(TWO_CHAR_QUERIES) for _ in range(count)]
    return long_queries, short_queries


async def measure(db_path: Path, lookups: int, searches: int) -> dict[str, object]:
    rng = random.Random(SEED)
    material = load_material()
    long_queries, short_queries = queries(material, rng, searches)
    store = await Store.open(db_path)
    try:
        started = time.perf_counter()
        tag_counts = await store.tags()
        tags_seconds = time.perf_counter() - started
        names = [t.name for t in tag_counts]
        picks = rng.choices(names, weights=[t.count for t in tag_counts], k=lookups)

        # Warm the page cache the way a running bot's would be, untimed.
        for tag in picks[:20]:
            await store.posts_by_tag(tag, 10)
        for query in long_queries[:10] + short_queries[:10]:
            await store.search(query)

        tag_times = []
        for tag in picks:
            t0 = time.perf_counter()
            found = await store.posts_by_tag(tag, 10)
            tag_times.append(time.perf_counter() - t0)
            assert found, tag

        async def run(qs: list[str]) -> tuple[list[float], list[int], dict[str, float]]:
            times, hits, worst = [], [], {}
            for query in qs:
                t0 = time.perf_counter()
                result = await store.search(query)
                elapsed = time.perf_counter() - t0
                times.append(elapsed)
                hits.append(len(result))
                worst[query] = max(worst.get(query, 0.0), elapsed)
            return times, hits, dict(sorted(worst.items(), key=lambda kv: -kv[1])[:8])

        long_times, long_hits, long_worst = await run(long_queries)
        short_times, short_hits, short_worst = await run(short_queries)

        post_count = (await store.counts(now=float("inf")))[0]  # the bench's own sanity check
    finally:
        await store.close()
    return {
        "posts": post_count,
        "tags_distinct": len(names),
        "tags_call_seconds": tags_seconds,
        "tag_times": tag_times,
        "long_times": long_times,
        "long_zero_hit_queries": sum(1 for h in long_hits if h == 0),
        "long_worst": long_worst,
        "short_times": short_times,
        "short_zero_hit_queries": sum(1 for h in short_hits if h == 0),
        "short_worst": short_worst,
        "peak_rss_mib": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--rebuild", action="store_true", help="ignore the cached store")
    parser.add_argument("--build-only", action="store_true", help=argparse_hidden())
    args = parser.parse_args(argv)

    if args.build_only:
        build(WORK / f"scale-{args.posts}-{cache_key(args.posts)}.db", args.posts)
        return 0

    db_path, build_seconds = ensure_store(args.posts, args.rebuild)
    print(f"measuring {db_path} …", file=sys.stderr)
    r = asyncio.run(measure(db_path, args.lookups, args.searches))
    tag_p50, tag_p99 = percentile(r["tag_times"], 50), percentile(r["tag_times"], 99)
    long_p50, long_p99 = percentile(r["long_times"], 50), percentile(r["long_times"], 99)
    short_p50, short_p99 = percentile(r["short_times"], 50), percentile(r["short_times"], 99)
    rss = r["peak_rss_mib"]
    size_mb = db_path.stat().st_size / 1e6
    rows = [
        Row("posts / distinct tags / DB size", f"{r['posts']:,} / {r['tags_distinct']} / {size_mb:,.0f} MB"),
        Row("store build (write_batch, cached)", "cached" if build_seconds is None else f"{build_seconds:.0f} s"),
        Row("tags() with counts (first call)", ms(r["tags_call_seconds"])),
        Row(f"posts_by_tag(tag, 10) p50 (n={len(r['tag_times'])})", ms(tag_p50)),
        Row("posts_by_tag(tag, 10) p99", ms(tag_p99), target="≤ 5 ms", result=verdict(tag_p99 <= TARGET_TAG_P99)),
        Row(f"search, 3+ chars p50 (n={len(r['long_times'])})", ms(long_p50)),
        Row(
            "search, 3+ chars p99",
            ms(long_p99),
            target="≤ 50 ms",
            result=verdict(long_p99 <= TARGET_SEARCH_P99),
        ),
        Row(f"search, 2 chars p50 (n={len(r['short_times'])})", ms(short_p50)),
        Row(
            "search, 2 chars p99",
            ms(short_p99),
            target="≤ 150 ms",
            result=verdict(short_p99 <= TARGET_SEARCH2_P99),
        ),
        Row("peak RSS of the measuring process", f"{rss:.0f} MiB", target="≤ 300 MB", result=verdict(rss <= 300)),
    ]
    raw = dict(r) | {
        "db_path": str(db_path),
        "db_bytes": db_path.stat().st_size,
        "build_seconds": build_seconds,
        "tag_p50": tag_p50,
        "tag_p99": tag_p99,
        "long_p50": long_p50,
        "long_p99": long_p99,
        "short_p50": short_p50,
        "short_p99": short_p99,
    }
    emit(f"Scale: {r['posts']:,} synthetic posts", rows, raw, args.json)
    print("slowest 3+ char queries:", ", ".join(f"{q} {t * 1000:.0f} ms" for q, t in r["long_worst"].items()))
    print("slowest 2 char queries:", ", ".join(f"{q} {t * 1000:.0f} ms" for q, t in r["short_worst"].items()))
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    raise SystemExit(main())
