"""The demo's session and JSON API in-process: what the page may send, what it is told back, no browser needed."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import pytest
import pytest_asyncio
from aiohttp import web
from factories import make_blog, write_post

from bot.demo.session import CHANNEL, DemoSession
from bot.demo.web import TOKEN_HEADER, demo_app, own_hosts
from bot.emulator import InteractionHandle
from bot.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
SPEC = Path(__file__).resolve().parents[3] / "shared" / "discord-api" / "openapi.json"


class Served:
    def __init__(self, session: DemoSession, url: str, http: aiohttp.ClientSession, token: str) -> None:
        self.session, self.url, self.http, self.token = session, url, http, token

    async def post(self, path: str, body: object) -> tuple[int, dict]:
        """A POST as the demo's own page makes it: JSON, with the token the page was given."""
        async with self.http.post(self.url + path, json=body, headers={TOKEN_HEADER: self.token}) as response:
            return response.status, await response.json()


async def _page_token(http: aiohttp.ClientSession, url: str) -> str:
    """The per-run token, read from the page's HTML as the page's script reads it."""
    async with http.get(url) as response:
        page = await response.text()
    found = re.search(r'<meta name="kiji-demo-token" content="([^"]+)">', page)
    assert found, page
    return found.group(1)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    home = tmp_path_factory.mktemp("demo-session")
    site = home / "site"  # a Jekyll site, whose _config.yml names the blog and its picture
    posts = make_blog(site / "_posts", tagged_ai=3)
    (site / "_config.yml").write_text("title: Demo Blog\nlogo: /assets/logo.png\n", encoding="utf-8")
    settings = Settings(posts_dir=posts, site_dir=site, db_path=home / "demo.sqlite3", site_url="https://blog.example")
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    session = DemoSession(settings, spec_path=SPEC if SPEC.exists() else None)
    await session.start()
    runner = web.AppRunner(demo_app(session), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        async with aiohttp.ClientSession() as http:
            yield Served(session, url, http, await _page_token(http, url))
    finally:
        await runner.cleanup()
        await session.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


async def test_the_start_subscribes_announcements_with_the_real_command(served: Served) -> None:
    server = served.session.server
    assert server is not None
    [subscription] = await served.session.bot.store.subscriptions(server.guild)  # type: ignore[union-attr]
    assert subscription.channel_id == server.announcements
    [typed] = served.session.view()["channels"][str(server.general)][:1]
    assert (typed["command"], typed["options"]) == ("subscribe", [("channel", "#announcements")])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "summary", "options": {}}, "/summary needs its option 'post'"),
        (
            {"name": "summary", "options": {"post": "x", "colour": "red"}},
            "/summary has no option 'colour' (it has post, length)",
        ),
        ({"name": "latest", "options": {"count": "many"}}, "/latest count: 'many' is not a valid value"),
        ({"name": "latest", "options": {"count": "11"}}, "/latest count must be between 1 and 10"),
        ({"name": "nope", "options": {}}, "Kiji has no command /nope"),
        ({"name": "about", "options": {}, "locale": "fr"}, "the demo speaks ja and en-US, not 'fr'"),
        ({"name": "about", "options": {}, "channel_id": "12"}, "no channel 12 in the demo server"),
    ],
)
async def test_what_discord_would_not_let_you_send_is_refused_with_a_reason(
    served: Served, body: dict, says: str
) -> None:
    before = len(served.session.emulator.interactions)
    status, answer = await served.post("api/command", body)
    assert (status, answer) == (400, {"error": says})
    assert len(served.session.emulator.interactions) == before  # nothing reached the bot


async def test_about_answers_in_the_interactions_locale(served: Served) -> None:
    answers = {}
    for locale in ("ja", "en-US"):
        handle = await served.session.send_command("about", {}, locale=locale)
        answers[locale] = await handle.message()
    english, japanese = answers["en-US"]["embeds"][0], answers["ja"]["embeds"][0]
    assert english != japanese
    assert [f["name"] for f in english["fields"]] != [f["name"] for f in japanese["fields"]]


async def test_a_late_answer_is_shown_under_its_command_as_refused(served: Served) -> None:
    emulator = served.session.emulator
    emulator.interaction_deadline = 0.0  # as if Kiji took longer than Discord's 3 seconds
    try:
        handle = await served.session.send_command("about", {}, locale="en-US")
        await emulator.wait_for(lambda: bool(emulator.violations), 10, "the late callback")
    finally:
        emulator.interaction_deadline = 3.0
    general = served.session.view()["channels"][str(served.session.server.general)]  # type: ignore[union-attr]
    [item] = [i for i in general if i["id"] == str(handle.id)]
    [refusal] = item["refusals"]
    assert refusal["kind"] == "Unknown interaction" and "after dispatch" in refusal["detail"]
    assert refusal["request"].startswith(f"POST /interactions/{handle.id}/")
    emulator.take_violations()


async def test_bad_requests_from_the_page_are_answered_with_a_reason(served: Served) -> None:
    status, answer = await served.post("api/click", {"message_id": "1", "custom_id": "x"})
    assert (status, answer) == (400, {"error": "message 1 is unknown to the emulator"})
    status, answer = await served.post("api/click", {"message_id": "one"})
    assert (status, answer) == (400, {"error": "message_id is an id (a number)"})
    async with served.http.post(
        served.url + "api/command",
        data=b"{not json",
        headers={"Content-Type": "application/json", TOKEN_HEADER: served.token},
    ) as response:
        assert (response.status, await response.json()) == (400, {"error": "the request body is not JSON"})
    async with served.http.get(served.url + "api/view?after=soon") as response:
        assert (response.status, await response.json()) == (400, {"error": "after must be a number"})
    async with served.http.get(served.url + "static/..%2Fsession.py") as response:
        assert response.status == 404


async def test_autocomplete_through_the_api(served: Served) -> None:
    status, answer = await served.post(
        "api/autocomplete", {"name": "summary", "focused": "post", "options": {"post": "RAG"}, "locale": "en-US"}
    )
    assert status == 200
    assert [c["name"] for c in answer["choices"]] == ["What RAG is for"]


async def test_the_start_subscribe_answers_in_the_pages_language(served: Served) -> None:
    """The page opens in Japanese: the /subscribe the demo types at start is answered in Japanese too."""
    server = served.session.server
    assert server is not None
    general = served.session.view()["channels"][str(server.general)]
    typed = general[0]
    [answer] = [i for i in general if i["kind"] == "message" and i["interaction"] == typed["id"]]
    record = served.session.emulator.interactions[int(typed["id"])]
    assert record.payload["locale"] == "ja"
    assert JAPANESE.search(answer["message"]["content"]), answer["message"]["content"]


async def test_a_post_picked_from_autocomplete_is_shown_by_its_title(served: Served) -> None:
    status, answer = await served.post(
        "api/autocomplete", {"name": "summary", "focused": "post", "options": {"post": "RAG"}, "locale": "en-US"}
    )
    assert status == 200
    [choice] = answer["choices"]
    status, sent = await served.post(
        "api/command", {"name": "summary", "options": {"post": str(choice["value"])}, "locale": "en-US"}
    )
    assert status == 200
    server = served.session.server
    assert server is not None
    [item] = [i for i in served.session.view()["channels"][str(server.general)] if i["id"] == sent["interaction"]]
    assert item["options"] == [("post", choice["name"])]
    assert str(choice["value"]) != choice["name"]  # the id was sent, the title is shown


# ------------------------------------------------------------------ only this machine's page may drive the demo


def _host(served: Served) -> str:
    return served.url.removeprefix("http://").rstrip("/")


async def _refused(served: Served, method: str, path: str, *, expect: int, **kwargs: object) -> dict:
    before = len(served.session.emulator.interactions)
    async with served.http.request(method, served.url + path, **kwargs) as response:
        assert response.status == expect, await response.text()
        answer = await response.json()
    assert len(served.session.emulator.interactions) == before  # nothing reached the bot
    return answer


async def test_a_text_plain_post_from_another_local_page_runs_nothing(served: Served) -> None:
    """What a page on another 127.0.0.1 port can send without asking the browser first: a "simple" request."""
    other_page = f"http://127.0.0.1:{served.url.rstrip('/').rsplit(':', 1)[1]}0"
    answer = await _refused(
        served, "POST", "api/command", expect=403,
        data=json.dumps({"name": "about", "options": {}}),
        headers={"Content-Type": "text/plain", "Origin": other_page},
    )  # fmt: skip
    assert other_page in answer["error"]
    answer = await _refused(
        served, "POST", "api/command", expect=415,
        data=json.dumps({"name": "about", "options": {}}),
        headers={"Content-Type": "text/plain", TOKEN_HEADER: served.token},
    )  # fmt: skip
    assert "application/json" in answer["error"]


async def test_commands_need_the_pages_token(served: Served) -> None:
    for path in ("api/command", "api/autocomplete", "api/click", "api/preview", "api/next-digest"):
        answer = await _refused(served, "POST", path, expect=403, json={"name": "about", "options": {}})
        assert "token" in answer["error"]
        answer = await _refused(
            served, "POST", path, expect=403, json={"name": "about", "options": {}},
            headers={TOKEN_HEADER: served.token[:-1] + ("A" if served.token[-1] != "A" else "B")},
        )  # fmt: skip
        assert "token" in answer["error"]


async def test_another_host_name_is_refused_dns_rebinding(served: Served) -> None:
    """A name that resolves to 127.0.0.1 for an attacker's page (DNS rebinding) gets nothing, not even the page."""
    for path in ("", "api/setup", "api/view?after=-1", "static/demo.js"):
        answer = await _refused(served, "GET", path, expect=403, headers={"Host": "attacker.example"})
        assert "attacker.example" in answer["error"]
    await _refused(
        served, "POST", "api/command", expect=403, json={"name": "about", "options": {}},
        headers={"Host": f"attacker.example:{_host(served).rsplit(':', 1)[1]}", TOKEN_HEADER: served.token},
    )  # fmt: skip


async def test_another_origin_is_refused_even_with_the_token(served: Served) -> None:
    await _refused(
        served, "POST", "api/command", expect=403, json={"name": "about", "options": {}},
        headers={"Origin": "http://attacker.example", TOKEN_HEADER: served.token},
    )  # fmt: skip


async def test_this_machines_names_for_the_page_are_served(served: Served) -> None:
    port = _host(served).rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        async with served.http.get(served.url + "api/setup", headers={"Host": host}) as response:
            assert response.status == 200
        handle_count = len(served.session.emulator.interactions)
        async with served.http.post(
            served.url + "api/command",
            json={"name": "about", "options": {}},
            headers={"Host": host, "Origin": f"http://{host}", TOKEN_HEADER: served.token},
        ) as response:
            assert response.status == 200, await response.text()
        assert len(served.session.emulator.interactions) == handle_count + 1


async def test_the_names_of_this_machine_with_the_port_a_browser_sends() -> None:
    assert own_hosts("127.0.0.1", 8080) == {"127.0.0.1:8080", "localhost:8080"}
    assert own_hosts("127.0.0.1", 80) == {"127.0.0.1:80", "localhost:80", "127.0.0.1", "localhost"}
    assert own_hosts("::1", 8080) == {"[::1]:8080", "localhost:8080"}


# ------------------------------------------------------------------ announcements: each layout, and a digest's hour


async def test_the_preview_shows_a_post_in_each_layout_as_discord_would_get_it(served: Served) -> None:
    status, first = await served.post("api/preview", {"locale": "en-US"})
    assert status == 200, first
    newest = first["posts"][0]
    assert first["post"] == newest  # no post chosen: the newest
    rag = next(p for p in first["posts"] if p["title"] == "What RAG is for")
    template = "📰 {title} ({date:%Y})\n{url}"
    status, shown = await served.post("api/preview", {"post": rag["id"], "template": template, "locale": "en-US"})
    assert status == 200, shown
    assert shown["post"] == rag
    embed, card, text = (shown["layouts"][layout]["body"] for layout in ("embed", "card", "text"))
    post = await served.session.bot.store.get_post(int(rag["id"]))  # type: ignore[union-attr]
    assert post is not None
    line = f"📰 What RAG is for ({post.date_iso[:4]})\n{post.abs_url}"
    assert embed["content"] == line and embed["embeds"][0]["title"] == "What RAG is for"
    assert text == {"content": line, "allowed_mentions": text["allowed_mentions"]}
    assert card["flags"] == 1 << 15 and "content" not in card
    [container] = card["components"]
    assert container["type"] == 17 and container["components"][0] == {"type": 10, "content": line}
    assert any(c["type"] == 1 and c["components"][0]["url"] == post.abs_url for c in container["components"])
    validator = served.session.emulator.validator
    for body in (embed, card, text):
        if validator is not None:
            assert validator.validate("POST", "/channels/1/messages", body) == [], body
        assert body["allowed_mentions"]["parse"] == []


async def test_the_preview_says_why_a_template_would_be_refused(served: Served) -> None:
    status, shown = await served.post("api/preview", {"template": "{title} {nope}", "locale": "en-US"})
    assert status == 200
    for layout in ("embed", "card", "text"):
        assert "{nope} is not a placeholder Kiji knows" in shown["layouts"][layout]["error"]
    status, shown = await served.post("api/preview", {"template": "x" * 1990 + "{summary}"})
    assert "Discord takes at most 2000" in shown["layouts"]["text"]["error"]
    status, answer = await served.post("api/preview", {"post": "999999"})
    assert (status, answer) == (400, {"error": "no post with id 999999"})
    status, answer = await served.post("api/preview", {"post": "first"})
    assert (status, answer) == (400, {"error": "post must be a post's id (a number), not 'first'"})


async def test_moving_the_clock_to_the_digest_hour_sends_the_digest(served: Served) -> None:
    session, server = served.session, served.session.server
    assert server is not None and session.bot is not None
    status, answer = await served.post("api/next-digest", {})
    assert status == 400 and "no channel takes a digest yet" in answer["error"]

    handle = await session.send_command(
        "subscribe", {"channel": str(server.general), "digest": "daily", "digest_hour": "7"}, locale="en-US"
    )
    await handle.response(timeout_s=10)
    emulator = session.emulator
    write_post(session.settings.posts_dir, "2025-08-01-digest.md", "Digest day post", "A post for the digest.\n")
    await emulator.wait_for(
        lambda: any("Digest day post" in str(m) for m in emulator.sent_messages.get(server.announcements, ())),
        20,
        "the per-post announcement in #announcements",
    )
    assert not any("Digest day post" in str(m) for m in emulator.sent_messages.get(server.general, ()))

    status, moved = await served.post("api/next-digest", {})
    assert status == 200, moved
    assert moved["channel_id"] == str(server.general) and "T07:00:01" in moved["now"]
    await emulator.wait_for(
        lambda: any("Digest day post" in str(m) for m in emulator.sent_messages.get(server.general, ())),
        20,
        "the digest in #general",
    )
    [digest] = [m for m in emulator.sent_messages[server.general] if "Digest day post" in str(m)]
    assert "**[Digest day post](" in digest["embeds"][0]["description"]
    shown = [i for i in session.view()["channels"][str(server.general)] if i["id"] == digest["id"]]
    assert shown  # the page's view of #general has it


async def test_a_webhook_delivery_is_shown_with_the_blogs_name_and_icon(served: Served) -> None:
    session, server = served.session, served.session.server
    assert server is not None
    handle = await session.send_command(
        "subscribe", {"channel": str(server.announcements), "delivery": "webhook"}, locale="en-US"
    )
    await handle.response(timeout_s=10)
    emulator = session.emulator
    write_post(session.settings.posts_dir, "2025-08-02-hook.md", "From the blog itself", "Sent by a webhook.\n")
    await emulator.wait_for(
        lambda: any("From the blog itself" in str(m) for m in emulator.sent_messages.get(server.announcements, ())),
        20,
        "the webhook announcement",
    )
    [item] = [
        i
        for i in session.view()["channels"][str(server.announcements)]
        if i["kind"] == "message" and "From the blog itself" in str(i["message"])
    ]
    assert item["message"]["webhook_id"] and item["message"]["author"]["username"] == "Demo Blog"
    assert item["avatar_url"] == "https://blog.example/assets/logo.png"


# ------------------------------------------------------------------ last: it subscribes and unsubscribes #general


async def test_every_synced_command_is_offered_and_answers(served: Served) -> None:
    """Each command Kiji synced is in the page's list and answers when sent the way the page sends it."""
    session, server = served.session, served.session.server
    assert server is not None
    synced = sorted(c["name"] for c in session.emulator.world.commands_visible(server.guild))
    assert len(synced) == len(session.bot.tree.get_commands())  # type: ignore[union-attr]
    async with served.http.get(served.url + "api/setup") as response:
        offered = sorted(c["name"] for c in (await response.json())["commands"])
    assert offered == synced
    for name in synced:
        options = {}
        for option in session.command(name).get("options") or []:
            if not option.get("required"):
                continue
            if option["type"] == CHANNEL:
                options[option["name"]] = str(server.general)
            elif option.get("autocomplete"):
                status, found = await served.post(
                    "api/autocomplete", {"name": name, "focused": option["name"], "options": {option["name"]: ""}}
                )
                assert status == 200 and found["choices"], (name, found)
                options[option["name"]] = str(found["choices"][0]["value"])
            else:
                options[option["name"]] = "AI"
        status, sent = await served.post("api/command", {"name": name, "options": options})
        assert status == 200, (name, sent)
        record = session.emulator.interactions[int(sent["interaction"])]
        answer = await InteractionHandle(session.emulator.monitor, record).message(timeout_s=10)
        assert answer["content"] or answer["embeds"], (name, answer)
