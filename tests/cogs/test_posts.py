"""/summary, /latest, /random, /about, /related end to end."""

from __future__ import annotations

from bot_harness import World
from factories import write_post


def embed_of(message: dict) -> dict:
    [embed] = message["embeds"]
    return embed


async def test_summary_autocomplete_then_command(world: World) -> None:
    emu = world.emu
    choices = await (await emu.autocomplete("summary", "post", {"post": "llama"}, locale="ja")).choices()
    assert [c["name"] for c in choices] == ["MetaのLlama 4発表"]
    handle = await emu.slash_command("summary", {"post": choices[0]["value"]}, locale="ja")
    body = await handle.response()
    assert body["type"] == 4
    embed = embed_of(body["data"])
    assert embed["title"] == "MetaのLlama 4発表"
    assert embed["url"].endswith("/2025/06/01/llama4.html")
    assert "推論コスト" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["著者"] == "編集部" and "`LLM`" in fields["タグ"] and "2025年6月1日" in fields["公開日"]
    [row] = body["data"]["components"]
    [button] = row["components"]
    assert (button["style"], button["label"], button["url"]) == (5, "記事を読む", embed["url"])


async def test_summary_in_english_for_english_clients(world: World) -> None:
    handle = await world.emu.slash_command("summary", {"post": "What RAG is for"}, locale="en-US")
    embed = embed_of((await handle.response())["data"])
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "Published" in fields and "min read" in fields["Reading time"]
    assert (await handle.response())["data"]["components"][0]["components"][0]["label"] == "Read the article"


async def test_autocomplete_is_width_and_case_insensitive_and_capped(world: World) -> None:
    choices = await (await world.emu.autocomplete("summary", "post", {"post": "ＡＩニュース"})).choices()
    assert len(choices) == 23 and all("AIニュース" in c["name"] for c in choices)
    everything = await (await world.emu.autocomplete("summary", "post", {"post": ""})).choices()
    assert len(everything) == 25
    long = [c for c in everything if c["name"].startswith("長いタイトル")]
    assert long and len(long[0]["name"]) == 100 and long[0]["name"].endswith("…")


async def test_unknown_post_suggests_near_titles(world: World) -> None:
    handle = await world.emu.slash_command("summary", {"post": "Lama 4 発表"}, locale="ja")
    data = (await handle.response())["data"]
    assert data["flags"] & 64  # ephemeral
    assert "見つかりません" in data["content"] and "MetaのLlama 4発表" in data["content"]


async def test_long_title_is_cut_to_embed_limits(world: World) -> None:
    handle = await world.emu.slash_command("summary", {"post": "長いタイトル長いタイトル"})
    embed = embed_of((await handle.response())["data"])
    assert len(embed["title"]) <= 256 and embed["title"].endswith("…")


async def test_mentions_in_posts_ping_nobody(world: World) -> None:
    handle = await world.emu.slash_command("summary", {"post": "@everyone 緊急"})
    data = (await handle.response())["data"]
    assert "@everyone" in embed_of(data)["title"]
    mentions = data["allowed_mentions"]
    assert mentions["parse"] == [] and not mentions.get("users") and not mentions.get("roles")


async def test_latest_with_count_and_tag(world: World) -> None:
    data = (await (await world.emu.slash_command("latest", {"count": 3})).response())["data"]
    description = embed_of(data)["description"]
    assert description.index("長いタイトル") < description.index("@everyone") < description.index("What RAG")
    tagged = (await (await world.emu.slash_command("latest", {"count": 2, "tag": "rag"})).response())["data"]
    assert "What RAG is for" in embed_of(tagged)["description"]


async def test_random_with_tag(world: World) -> None:
    data = (await (await world.emu.slash_command("random", {"tag": "RAG"})).response())["data"]
    assert embed_of(data)["title"] == "What RAG is for"


async def test_about(world: World) -> None:
    data = (await (await world.emu.slash_command("about", locale="en-US")).response())["data"]
    fields = {f["name"]: f["value"] for f in embed_of(data)["fields"]}
    assert fields["Posts"] == "27"
    assert fields["Tags"] == "4"  # AI, LLM, Meta, RAG ("Guides" is a category)
    assert fields["Version"].startswith("Kiji ")


async def test_related_excludes_itself(world: World) -> None:
    data = (await (await world.emu.slash_command("related", {"post": "MetaのLlama 4発表"})).response())["data"]
    description = embed_of(data)["description"]
    assert "Llama 4発表](" not in description
    assert "What RAG is for" in description or "AIニュース" in description


async def test_a_post_url_too_long_for_a_button_still_gets_its_summary(world: World) -> None:
    slug = "日本語のとても長いスラッグ" * 5  # 65 characters, over 512 once percent-encoded
    write_post(world.posts_dir, f"2025-07-01-{slug}.md", "長いURLの記事", "本文です。十分な内容です。", tags="[AI]")
    await world.bot.sync.sync_now()
    [post] = [p for p in await world.bot.store.all_posts() if p.title == "長いURLの記事"]
    assert len(post.abs_url) > 512
    body = await (await world.emu.slash_command("summary", {"post": str(post.id)}, locale="en-US")).response()
    assert body["type"] == 4
    assert embed_of(body["data"])["url"] == post.abs_url  # the title still links the article
    assert not body["data"].get("components")


async def test_untitled_posts_are_offered_by_their_slug(world: World) -> None:
    write_post(world.posts_dir, "2025-07-01-notitle.md", "", "本文です。十分な内容です。", tags="[AI]")
    write_post(world.posts_dir, "2025-07-02-spaces.md", "   ", "本文です。十分な内容です。", tags="[AI]")
    await world.bot.sync.sync_now()
    choices = await (await world.emu.autocomplete("summary", "post", {"post": ""}, locale="en-US")).choices()
    names = [c["name"] for c in choices]
    assert names[:2] == ["spaces", "notitle"]  # newest first
    assert all(name.strip() for name in names)
