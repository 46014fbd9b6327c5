"""`kiji demo` in a real browser: Debian's chromium, driven by Playwright, against the command as a user runs it.

One `kiji demo --no-browser` process serves the module (started like a user would, its URL read from its
output); each test opens a fresh page in one chromium profile of its own. Every wait is Playwright's: for an
element or a text to appear, never a fixed pause.
"""

from __future__ import annotations

import http.server
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import make_blog, write_post

from bot.emulator import DEFAULT_TOKEN

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SPEC = REPO.parent / "shared" / "discord-api" / "openapi.json"
ATTACKER_HOST = "attacker.example"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    # An attacker's name that resolves to this machine, as DNS rebinding makes it (no DNS server needed).
    f"--host-resolver-rules=MAP {ATTACKER_HOST} 127.0.0.1",
]
START_TIMEOUT_S = 90.0
WAIT_MS = 15_000

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install '.[dev]')")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (.ci/run does)", allow_module_level=True)


class Demo:
    def __init__(self, process: subprocess.Popen[bytes], url: str, posts: Path, output: list[str]) -> None:
        self.process, self.url, self.posts, self.output = process, url, posts, output


def _read_url(process: subprocess.Popen[bytes], output: list[str]) -> str:
    """The page's URL: the line of the demo's output that is only a URL (waiting on the pipe, up to a deadline).

    Read from the file descriptor, not a buffered reader: lines already in a reader's buffer would not wake the
    selector.
    """
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and selector.select(timeout=left):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                output.append(line + "\n")
                if line.startswith("http://127.0.0.1:") and " " not in line:
                    return line.strip()
    raise AssertionError("kiji demo printed no URL:\n" + "".join(output))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("demo")
    posts = make_blog(home / "posts", tagged_ai=12)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIJI_", "DISCORD_"))}
    env["PYTHONPATH"] = str(REPO)
    args = [sys.executable, "-m", "bot.cli", "demo", "--posts", str(posts), "--no-browser"]
    if SPEC.exists():
        args += ["--spec", str(SPEC)]
    process = subprocess.Popen(args, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[str] = []
    try:
        url = _read_url(process, output)
        yield Demo(process, url, posts, output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
        output.append((rest or b"").decode("utf-8", "replace"))
    assert process.returncode == 0, "".join(output)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sync_api.BrowserContext]:
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(demo: Demo, browser: sync_api.BrowserContext) -> Iterator[sync_api.Page]:
    opened = browser.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(demo.url)
    opened.wait_for_selector(".item.command")  # the demo's own /subscribe is there once the page has loaded
    yield opened
    opened.close()
    assert not errors, errors


def start_command(page: sync_api.Page, name: str) -> None:
    page.fill("#composer-input", "/" + name[:2])
    page.click(f'#popup .choice[data-value="{name}"]')


def pick(page: sync_api.Page, option: str, typed: str, choice: str) -> None:
    page.fill(f'[data-option="{option}"]', typed)
    page.click(f'#popup .choice:has-text("{choice}")')


def send(page: sync_api.Page, field: str) -> sync_api.Locator:
    """Press Enter in an option field; Kiji's answer to that command (found by its interaction, as it arrives)."""
    commands = page.locator("#messages .item.command")
    before = commands.count()
    page.press(f'[data-option="{field}"]', "Enter")
    sync_api.expect(commands).to_have_count(before + 1)
    interaction = commands.last.get_attribute("data-interaction")
    return page.locator(f'#messages .item.message[data-interaction="{interaction}"]')


def test_autocomplete_offers_commands_then_posts_as_you_type(page: sync_api.Page) -> None:
    page.select_option("#locale", "en-US")
    page.fill("#composer-input", "/s")
    shown = page.locator("#popup .choice")
    sync_api.expect(shown.filter(has_text="/summary")).to_be_visible()
    sync_api.expect(shown.filter(has_text="/search")).to_be_visible()
    sync_api.expect(shown.filter(has_text="/about")).to_have_count(0)

    page.click('#popup .choice[data-value="summary"]')
    page.fill('[data-option="post"]', "Llama")
    sync_api.expect(shown.filter(has_text="MetaのLlama 4発表")).to_be_visible()
    page.fill('[data-option="post"]', "AIニュース第1")
    sync_api.expect(shown.filter(has_text="AIニュース第10号")).to_be_visible()
    sync_api.expect(shown.filter(has_text="MetaのLlama 4発表")).to_have_count(0)


def test_summary_renders_the_embed_with_a_working_read_button(page: sync_api.Page) -> None:
    page.select_option("#locale", "en-US")
    start_command(page, "summary")
    pick(page, "post", "Llama", "MetaのLlama 4発表")
    answer = send(page, "post")
    sync_api.expect(answer.locator(".embed-title")).to_have_text("MetaのLlama 4発表")
    sync_api.expect(answer.locator(".embed-field-name").first).to_have_text("Published")
    button = answer.locator("a.link-button")
    sync_api.expect(button).to_be_visible()
    with page.context.expect_page() as opened:
        button.click()
    article = opened.value
    sync_api.expect(article.locator("h1")).to_have_text("MetaのLlama 4発表")
    sync_api.expect(article.locator("body")).to_contain_text("推論コストを大幅に下げた")
    article.close()


def test_the_language_switch_changes_commands_and_answers(page: sync_api.Page) -> None:
    page.select_option("#locale", "ja")
    page.fill("#composer-input", "/")
    sync_api.expect(page.locator('#popup .choice[data-value="summary"]')).to_contain_text("/要約")
    page.click('#popup .choice[data-value="summary"]')
    pick(page, "post", "Llama", "MetaのLlama 4発表")
    sync_api.expect(send(page, "post").locator(".embed-field-name").first).to_have_text("公開日")

    page.select_option("#locale", "en-US")
    page.fill("#composer-input", "/")
    sync_api.expect(page.locator('#popup .choice[data-value="summary"]')).to_contain_text("/summary")


def test_the_paginator_moves_for_the_asker_only(page: sync_api.Page) -> None:
    page.select_option("#locale", "en-US")
    start_command(page, "tag")
    pick(page, "tag", "AI", "AI")
    answer = send(page, "tag")
    footer = answer.locator(".embed-footer")
    sync_api.expect(footer).to_contain_text("Page 1/")
    first_titles = answer.locator(".embed-description").inner_text()

    answer.locator("button.component", has_text="▶").click()
    sync_api.expect(footer).to_contain_text("Page 2/")
    assert answer.locator(".embed-description").inner_text() != first_titles
    sync_api.expect(answer.locator("button.component", has_text="◀")).to_be_enabled()

    page.select_option("#person", label="Hana")
    answer.locator("button.component", has_text="◀").click()
    refusal = page.locator("#messages .item.message", has_text="Only the person who ran this command")
    sync_api.expect(refusal).to_be_visible()
    sync_api.expect(refusal.locator(".ephemeral-note")).to_have_text("Only you can see this")
    sync_api.expect(footer).to_contain_text("Page 2/")


def test_a_new_post_file_is_announced_in_announcements(page: sync_api.Page, demo: Demo) -> None:
    write_post(demo.posts, "2025-07-01-fresh.md", "出来たての記事", "新しい記事の本文です。今日書いた。\n", tags="[AI]")
    channel = page.locator('#channels .channel[data-name="announcements"]')
    sync_api.expect(channel.locator(".badge")).to_have_text("1")
    channel.click()
    sync_api.expect(page.locator("#channel-title")).to_have_text("# announcements")
    sync_api.expect(page.locator("#messages .embed-title", has_text="出来たての記事")).to_be_visible()


def test_a_request_discord_would_refuse_is_shown_in_the_page(page: sync_api.Page, demo: Demo) -> None:
    """Any bot may talk to the demo's emulation; one that sends 2,001 characters is told what Discord says."""
    page.select_option("#locale", "en-US")
    with urllib.request.urlopen(demo.url + "api/setup") as response:
        setup = json.load(response)
    general = setup["channels"][0]["id"]
    request = urllib.request.Request(
        f"{setup['api_base']}/channels/{general}/messages",
        data=json.dumps({"content": "x" * 2001}).encode(),
        headers={"Authorization": f"Bot {DEFAULT_TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 400
    refusal = page.locator("#messages .refusal")
    sync_api.expect(refusal).to_contain_text("Discord would refuse this request")
    sync_api.expect(refusal).to_contain_text("message content is 2001 characters (limit 2000)")


def test_every_synced_command_is_offered(page: sync_api.Page) -> None:
    page.select_option("#locale", "en-US")
    for name in ("tags", "unsubscribe", "subscriptions", "resume"):
        page.fill("#composer-input", "/" + name)
        sync_api.expect(page.locator(f'#popup .choice[data-value="{name}"]')).to_be_visible()
    page.fill("#composer-input", "/tags")
    page.press("#composer-input", "Enter")
    sync_api.expect(page.locator("#command-chip")).to_have_text("/tags")
    commands = page.locator("#messages .item.command")
    before = commands.count()
    page.press("#send", "Enter")
    sync_api.expect(commands).to_have_count(before + 1)
    interaction = commands.last.get_attribute("data-interaction")
    answer = page.locator(f'#messages .item.message[data-interaction="{interaction}"]')
    sync_api.expect(answer.locator(".embed-title")).to_have_text("Tags")
    sync_api.expect(answer.locator(".embed-description")).to_contain_text("AI")


def test_enter_on_plain_text_says_commands_start_with_a_slash(page: sync_api.Page) -> None:
    page.select_option("#locale", "en-US")
    page.fill("#composer-input", "hello")
    page.press("#composer-input", "Enter")
    sync_api.expect(page.locator("#composer-error")).to_contain_text("Commands start with /")
    page.select_option("#locale", "ja")
    page.fill("#composer-input", "/nothing")
    page.press("#composer-input", "Enter")
    sync_api.expect(page.locator("#composer-error")).to_contain_text("そのコマンドはありません")


def test_the_used_line_shows_the_picked_posts_title(page: sync_api.Page) -> None:
    page.select_option("#locale", "en-US")
    start_command(page, "summary")
    pick(page, "post", "Llama", "MetaのLlama 4発表")
    send(page, "post")
    line = page.locator("#messages .item.command").last
    sync_api.expect(line).to_contain_text("post: MetaのLlama 4発表")


def test_the_start_subscribe_is_answered_in_japanese(page: sync_api.Page) -> None:
    first = page.locator("#messages .item.command").first
    interaction = first.get_attribute("data-interaction")
    answer = page.locator(f'#messages .item.message[data-interaction="{interaction}"] .content')
    sync_api.expect(answer).to_contain_text("#announcements")
    assert any("\u3040" <= c <= "\u30ff" for c in answer.inner_text()), answer.inner_text()


class _AttackerPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another local page</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _commands_run(demo: Demo) -> int:
    with urllib.request.urlopen(demo.url + "api/view") as response:
        view = json.load(response)
    return sum(item["kind"] == "command" for items in view["channels"].values() for item in items)


def test_a_page_on_another_local_port_cannot_run_commands(browser: sync_api.BrowserContext, demo: Demo) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    attacker = browser.new_page()
    try:
        attacker.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        before = _commands_run(demo)
        sent = attacker.evaluate(
            """async (url) => {
                const body = JSON.stringify({ name: "about", options: {} });
                const simple = await fetch(url + "api/command", { method: "POST", mode: "no-cors",
                    headers: { "Content-Type": "text/plain" }, body });
                let json = "sent";
                try {
                    await fetch(url + "api/command", { method: "POST",
                        headers: { "Content-Type": "application/json" }, body });
                } catch (error) { json = "blocked"; }
                return [simple.type, json];
            }""",
            demo.url,
        )
        assert sent == ["opaque", "blocked"]  # the simple POST was sent; the JSON one stopped at the preflight
        assert _commands_run(demo) == before
    finally:
        attacker.close()
        server.shutdown()
        server.server_close()


def test_a_rebound_name_gets_no_page(browser: sync_api.BrowserContext, demo: Demo) -> None:
    """DNS rebinding: the attacker's name now resolves to 127.0.0.1; the demo answers it with a refusal only."""
    port = demo.url.rstrip("/").rsplit(":", 1)[1]
    attacker = browser.new_page()
    try:
        before = _commands_run(demo)
        response = attacker.goto(f"http://{ATTACKER_HOST}:{port}/")
        assert response is not None and response.status == 403
        assert "Kiji demo" not in attacker.content()
        answer = attacker.evaluate(
            """async () => {
                const response = await fetch("/api/command", { method: "POST",
                    headers: { "Content-Type": "application/json" },
                    body: JSON.stringify({ name: "about", options: {} }) });
                return response.status;
            }"""
        )
        assert answer == 403
        assert _commands_run(demo) == before
    finally:
        attacker.close()


# ------------------------------------------------------------------ announcements: each layout, cards, digests


def run_command(page: sync_api.Page, name: str, options: dict[str, str]) -> None:
    """Fill a command's options as a user does (selects picked by their label, text typed) and press Send."""
    start_command(page, name)
    for option, value in options.items():
        field = page.locator(f'[data-option="{option}"]')
        if field.evaluate("node => node.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    commands = page.locator("#messages .item.command")
    before = commands.count()
    page.click("#send")
    sync_api.expect(commands).to_have_count(before + 1)
    interaction = commands.last.get_attribute("data-interaction")
    sync_api.expect(page.locator(f'#messages .item.message[data-interaction="{interaction}"]').first).to_be_visible()


def test_the_preview_shows_a_post_in_each_layout_with_the_typed_template(page: sync_api.Page) -> None:
    page.select_option("#locale", "en-US")
    page.click("#open-preview")
    layouts = page.locator("#preview-layouts .preview-layout")
    sync_api.expect(layouts).to_have_count(3)
    page.select_option("#preview-post", label="What RAG is for")
    page.fill("#preview-template", "📰 {title} — {tags}")
    page.click("#preview-show")
    embed, card, text = (page.locator(f'.preview-layout[data-layout="{name}"]') for name in ("embed", "card", "text"))
    sync_api.expect(embed.locator(".content")).to_have_text("📰 What RAG is for — RAG, LLM")
    sync_api.expect(embed.locator(".embed-title")).to_have_text("What RAG is for")
    sync_api.expect(card.locator(".v2-container .v2-text").first).to_have_text("📰 What RAG is for — RAG, LLM")
    sync_api.expect(card.locator(".v2-container .md-h3 a")).to_have_text("What RAG is for")
    sync_api.expect(card.locator(".v2-container a.link-button")).to_be_visible()
    sync_api.expect(text.locator(".content")).to_have_text("📰 What RAG is for — RAG, LLM")
    sync_api.expect(text.locator(".embed")).to_have_count(0)

    page.fill("#preview-template", "{title} {titel}")
    page.click("#preview-show")
    sync_api.expect(text.locator(".refusal")).to_contain_text("{titel} is not a placeholder Kiji knows")
    sync_api.expect(card.locator(".refusal")).to_contain_text("{titel} is not a placeholder Kiji knows")


def test_a_card_subscription_announces_a_new_post_as_a_card(page: sync_api.Page, demo: Demo) -> None:
    page.select_option("#locale", "en-US")
    run_command(page, "subscribe", {"channel": "#announcements", "layout": "Card", "template": "New: {title}"})
    write_post(demo.posts, "2025-07-02-card.md", "カードの記事", "カードで告知される記事です。\n", tags="[AI]")
    page.click('#channels .channel[data-name="announcements"]')
    card = page.locator("#messages .item.message .v2-container", has_text="カードの記事")
    sync_api.expect(card.locator(".v2-text").first).to_have_text("New: カードの記事")
    sync_api.expect(card.locator("a.link-button")).to_be_visible()


def test_moving_on_to_the_digest_hour_shows_the_digest(page: sync_api.Page, demo: Demo) -> None:
    page.select_option("#locale", "en-US")
    page.click("#next-digest")
    sync_api.expect(page.locator("#composer-error")).to_contain_text("no channel takes a digest yet")
    run_command(page, "subscribe", {"channel": "#general", "digest": "Daily", "digest_hour": "8"})
    write_post(demo.posts, "2025-07-03-digest.md", "まとめに載る記事", "ダイジェストに載る記事です。\n", tags="[AI]")
    page.click('#channels .channel[data-name="announcements"]')
    sync_api.expect(page.locator("#messages .item.message", has_text="まとめに載る記事")).to_be_visible()
    page.click('#channels .channel[data-name="general"]')
    digest = page.locator("#messages .embed-description", has_text="まとめに載る記事")
    sync_api.expect(digest).to_have_count(0)  # the announcement went out; the digest waits for its hour

    page.click("#next-digest")
    sync_api.expect(page.locator("#clock-note")).to_contain_text("The demo's clock:")
    sync_api.expect(page.locator("#channel-title")).to_have_text("# general")
    sync_api.expect(digest).to_be_visible()
    sync_api.expect(digest.locator("a", has_text="まとめに載る記事")).to_be_visible()
