"""The demo's session and JSON API in-process: what the page may send, what it is told back, no browser needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import pytest
import pytest_asyncio
from aiohttp import web
from factories import make_blog

from bot.demo.session import DemoSession
from bot.demo.web import demo_app
from bot.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")
SPEC = Path(__file__).resolve().parents[3] / "shared" / "discord-api" / "openapi.json"


class Served:
    def __init__(self, session: DemoSession, url: str, http: aiohttp.ClientSession) -> None:
        self.session, self.url, self.http = session, url, http

    async def post(self, path: str, body: object) -> tuple[int, dict]:
        async with self.http.post(self.url + path, json=body) as response:
            return response.status, await response.json()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    home = tmp_path_factory.mktemp("demo-session")
    posts = make_blog(home / "posts", tagged_ai=3)
    settings = Settings(posts_dir=posts, site_dir=None, db_path=home / "demo.sqlite3", site_url="https://blog.example")
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    session = DemoSession(settings, spec_path=SPEC if SPEC.exists() else None)
    await session.start()
    runner = web.AppRunner(demo_app(session), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Served(session, f"http://127.0.0.1:{runner.addresses[0][1]}/", http)
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
    async with served.http.post(served.url + "api/command", data=b"{not json") as response:
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
