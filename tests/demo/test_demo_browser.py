"""`kiji demo` in a real browser: Debian's chromium, driven by Playwright, against the command as a user runs it.

One `kiji demo --no-browser` process serves the module (started like a user would, its URL read from its
output); each test opens a fresh page in one chromium profile of its own. Every wait is Playwright's: for an
element or a text to appear, never a fixed pause.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
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
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
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
