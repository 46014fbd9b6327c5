"""Title autocomplete on PostgreSQL finds what SQLite's LIKE finds, needle by needle.

PostgreSQL looks a needle of two or more characters up through an index of each title's
two-character pieces (migration `kiji_bigrams`), and a one-character needle by a scan; either way
the answers (which titles, newest first, ties by id, cut to the limit, of one blog if asked) must be
SQLite's. The needles are every one-to-four-character piece of the titles (so most are found, often
across a script boundary or a space), width and case variants, and needles no title holds.
"""

from __future__ import annotations

from pathlib import Path

from factories import NOW, record

from bot.store import open_store

TITLES = [
    "生成AIの導入と企業の課題",
    "企業向け LLM 入門",
    "Llama 4 を試す",
    "AI と 倫理",
    "推論コストの下げ方",
    "夢見るロボット",
    "ロボットアームの制御技術",
    "技術",
    "a",
    "",
    "100% の_精度",
    "GPT-4o と GPT-5 の比較",
    "ストレージ技術の未来",
    "企業企業企業",
]


def _needles() -> list[str]:
    found: set[str] = set()
    for title in TITLES:
        for size in range(1, 5):
            found.update(title[at : at + size] for at in range(len(title) - size + 1))
    found.update(["ＡＩ", "ai", "gpt", "ＧＰＴ-４", "存在しない", "zz", "%", "_", "企業企業企業企業", "業の"])
    found.add("x" * 2000)  # longer than any title, and than the needle's cut
    return sorted(found)


async def test_every_title_needle_finds_what_sqlite_finds(tmp_path: Path, postgres_url: str) -> None:
    posts = [
        record(f"post-{n}", title, f"本文 {n}", date_utc=NOW - 3600 * (n % 5))  # equal dates: ties go by id
        for n, title in enumerate(TITLES * 3)
    ]
    sqlite_store = await open_store(tmp_path / "kiji.sqlite3")
    postgres_store = await open_store(postgres_url)
    try:
        for store in (sqlite_store, postgres_store):
            await store.write_batch(posts, now=NOW)
        needles = _needles()
        found = 0
        for needle in needles:
            for limit in (25, 2):
                expected = await sqlite_store.search_titles(needle, limit, now=NOW)
                assert await postgres_store.search_titles(needle, limit, now=NOW) == expected, (needle, limit)
                found += bool(expected)
        assert found > len(needles)  # most needles are found, at both limits
        # a needle found in many titles, asked again and again (a cached generic plan must not change answers)
        for _ in range(8):
            assert await postgres_store.search_titles("企業", 25, now=NOW) == await sqlite_store.search_titles(
                "企業", 25, now=NOW
            )
    finally:
        await postgres_store.close()
        await sqlite_store.close()
