"""/subscribe's `template` and `layout` end to end: previewed, refused or saved, then what the channel gets."""

from __future__ import annotations

from bot_harness import World, poll_and_deliver
from factories import write_post


async def subscribe(world: World, **options: object) -> tuple[dict, list[dict]]:
    handle = await world.emu.slash_command(
        "subscribe", {"channel": world.channel, **options}, user=world.admin, locale="en-US"
    )
    data = (await handle.response())["data"]
    followups = await handle.followups() if "Preview" in data.get("content", "") and not data.get("embeds") else []
    return data, followups


def new_post(world: World, slug: str, title: str) -> None:
    world.clock.advance(0.01)
    write_post(
        world.posts_dir, f"2025-07-01-{slug}.md", title, "新しい記事の本文です。内容は十分にあります。", tags="[AI]"
    )


def sent(world: World) -> list[dict]:
    return world.emu.sent_messages.get(world.channel, [])


async def test_a_card_subscription_previews_the_card_then_announces_new_posts_as_cards(world: World) -> None:
    data, [preview] = await subscribe(world, layout="card", template="{role} 新着: {title}", mention_role=world.role)
    assert "will be announced" in data["content"] and not data.get("embeds")
    assert preview["flags"] & (1 << 15) and preview["flags"] & 64  # Components V2, only for the admin
    [stored] = await world.bot.store.subscriptions()
    assert (stored.layout, stored.template) == ("card", "{role} 新着: {title}")

    new_post(world, "card", "カードの記事")
    await poll_and_deliver(world.bot)
    [message] = sent(world)
    [container] = message["components"]
    texts = [c["content"] for c in container["components"] if c["type"] == 10]
    assert texts[0] == f"<@&{world.role}> 新着: カードの記事"
    assert texts[1].startswith("### [カードの記事](")
    assert message["flags"] & (1 << 15)


async def test_a_text_subscription_sends_the_template_alone(world: World) -> None:
    await subscribe(world, layout="text", template="📰 {title}\n{url}", timezone="UTC")
    new_post(world, "plain", "テキストの記事")
    await poll_and_deliver(world.bot)
    [message] = sent(world)
    assert message["content"].startswith("📰 テキストの記事\nhttp") and not message.get("embeds")


async def test_a_template_that_cannot_be_used_is_refused_and_nothing_is_saved(world: World) -> None:
    for options, reason in [
        ({"template": "{title.__class__}"}, "is not a placeholder Kiji knows"),
        ({"template": "{title}", "timezone": "Mars/Olympus"}, "is not a time zone"),
        ({"template": "{summary}" * 40, "layout": "text"}, "Discord takes at most 2000"),
    ]:
        data, _ = await subscribe(world, **options)
        assert "nothing was changed" in data["content"] and reason in data["content"], data["content"]
        assert data["flags"] & 64
    assert await world.bot.store.subscriptions() == []


async def test_changing_the_layout_keeps_the_subscription_and_its_history(world: World) -> None:
    await subscribe(world)
    new_post(world, "first", "最初の記事")
    await poll_and_deliver(world.bot)
    await subscribe(world, layout="text", template="{title}")
    new_post(world, "second", "二番目の記事")
    await poll_and_deliver(world.bot)
    first, second = sent(world)
    assert first["embeds"][0]["title"] == "最初の記事" and second["content"] == "二番目の記事"
    assert len(await world.bot.store.subscriptions()) == 1
    handle = await world.emu.slash_command("subscriptions", {}, user=world.admin, locale="en-US")
    [field] = (await handle.response())["data"]["embeds"][0]["fields"]
    assert "Layout: text" in field["value"] and "Template: `{title}`" in field["value"]
