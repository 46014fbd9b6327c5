"""/summary shows the author's own abstract, labelled, above Kiji's summary (issue 25, point 3)."""

from __future__ import annotations

from bot_harness import World
from factories import JA_BODY, write_post

ABSTRACT = "Llama 4の発表を受け、オンプレミス導入の費用対効果と運用上の注意点を解説します。"
COPIED_OPENING = "Metaは新しい大規模言語モデルLlama 4を発表した。推論コストを大幅に下げたことが..."


def embed_of(message: dict) -> dict:
    [embed] = message["embeds"]
    return embed


async def _summary_description(world: World, title: str, locale: str) -> str:
    [post] = [p for p in await world.bot.store.all_posts() if p.title == title]
    body = await (await world.emu.slash_command("summary", {"post": str(post.id)}, locale=locale)).response()
    return embed_of(body["data"])["description"]


async def test_an_abstract_is_shown_as_the_authors_above_kijis_own(world: World) -> None:
    write_post(world.posts_dir, "2025-08-01-abstract.md", "Llama 4の導入判断", JA_BODY, description=ABSTRACT)
    await world.bot.sync.sync_now()
    ja = await _summary_description(world, "Llama 4の導入判断", "ja")
    author_at, kiji_at = ja.index("**著者による要約**"), ja.index("**Kijiによる要約**")
    assert author_at < ja.index(ABSTRACT) < kiji_at < ja.index("推論コスト")
    en = await _summary_description(world, "Llama 4の導入判断", "en-US")
    assert en.index("**The author's summary**") < en.index(ABSTRACT) < en.index("**Kiji's summary**")


async def test_a_description_copied_from_the_opening_is_not_called_the_authors(world: World) -> None:
    write_post(world.posts_dir, "2025-08-02-copy.md", "Llama 4の要点", JA_BODY, description=COPIED_OPENING)
    await world.bot.sync.sync_now()
    ja = await _summary_description(world, "Llama 4の要点", "ja")
    assert "著者による要約" not in ja and "Kijiによる要約" not in ja
    assert "推論コスト" in ja
