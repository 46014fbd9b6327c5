"""Push webhooks over real HTTP on 127.0.0.1: signatures as each host makes them, limits, and the fetch they trigger."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from git_server import BlogRemotes, GitDaemon

from bot.services.ingest import ingest_source
from bot.services.webhooks import MAX_BODY_BYTES, PushWebhook, WebhookConfig, WebhookConfigError
from bot.sources.git import GitSource
from bot.sources.specs import GitSpec, parse_spec, repository_key
from bot.store import Store

SECRET = "webhook-secret-Xy91-never-logged"


@dataclass(frozen=True)
class Followed:
    name: str
    repository_key: str


BLOG = Followed("github.com/owner/blog", repository_key("https://github.com/owner/blog.git"))
OTHER = Followed("gitlab.example.org/team/site", repository_key("git@gitlab.example.org:team/site.git"))


def github_push(clone_url: str = "https://github.com/owner/blog.git") -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "repository": {
                "full_name": "owner/blog",
                "html_url": clone_url.removesuffix(".git"),
                "clone_url": clone_url,
                "ssh_url": "git@github.com:owner/blog.git",
            },
        }
    ).encode()


def gitlab_push() -> bytes:
    return json.dumps(
        {
            "object_kind": "push",
            "project": {
                "path_with_namespace": "team/site",
                "web_url": "https://gitlab.example.org/team/site",
                "git_ssh_url": "git@gitlab.example.org:team/site.git",
                "git_http_url": "https://gitlab.example.org/team/site.git",
            },
        }
    ).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(self, hook: PushWebhook, session: aiohttp.ClientSession, calls: list[str]) -> None:
        self.hook, self.session, self.calls = hook, session, calls

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        url = f"http://127.0.0.1:{self.hook.port}/hooks/push"
        async with self.session.post(url, data=body, headers=headers) as response:
            return response.status, await response.json()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    calls: list[str] = []

    async def trigger(name: str) -> None:
        calls.append(name)

    hook = PushWebhook(WebhookConfig("127.0.0.1", 0, SECRET), [BLOG, OTHER], trigger)
    await hook.start()
    async with aiohttp.ClientSession() as session:
        yield Webhook(hook, session, calls)
    await hook.stop()


async def test_a_signed_github_push_triggers_its_source(webhook: Webhook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = github_push()
    status, answer = await webhook.post(body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body)}"})
    assert (status, answer, webhook.calls) == (202, {"triggered": [BLOG.name]}, [BLOG.name])
    assert SECRET not in caplog.text


async def test_github_form_encoded_pushes_are_read_too(webhook: Webhook) -> None:
    body = aiohttp.helpers.quote(github_push().decode(), safe="").encode()
    body = b"payload=" + body
    status, _ = await webhook.post(
        body,
        {
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": f"sha256={sign(body)}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert (status, webhook.calls) == (202, [BLOG.name])


async def test_a_gitlab_push_with_its_token_triggers_its_source(webhook: Webhook) -> None:
    status, answer = await webhook.post(gitlab_push(), {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET})
    assert (status, answer, webhook.calls) == (202, {"triggered": [OTHER.name]}, [OTHER.name])


async def test_a_gitea_push_signed_in_hex_triggers_its_source(webhook: Webhook) -> None:
    body = github_push("https://gitea.example.org/owner/blog.git").replace(b"gitea.example.org", b"github.com")
    status, _ = await webhook.post(body, {"X-Gitea-Event": "push", "X-Gitea-Signature": sign(body)})
    assert (status, webhook.calls) == (202, [BLOG.name])


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Event": "push"},
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(b"another body")},
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET + "x"},
        {"X-Gitea-Event": "push", "X-Gitea-Signature": sign(b"x", "another secret")},
    ],
    ids=["unsigned", "github-zeros", "github-other-body", "gitlab-wrong-token", "gitea-wrong-secret"],
)
async def test_missing_or_wrong_signatures_are_refused_and_fetch_nothing(
    webhook: Webhook, headers: dict[str, str]
) -> None:
    status, _ = await webhook.post(github_push(), headers)
    assert (status, webhook.calls) == (401, [])


async def test_a_ping_is_answered_and_fetches_nothing(webhook: Webhook) -> None:
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    status, answer = await webhook.post(body, {"X-GitHub-Event": "ping", "X-Hub-Signature-256": f"sha256={sign(body)}"})
    assert (status, answer, webhook.calls) == (200, {"ok": "pong"}, [])


async def test_a_push_for_another_repository_fetches_nothing(webhook: Webhook) -> None:
    body = github_push("https://github.com/someone/else.git").replace(b"git@github.com:owner/blog", b"x:y/z")
    status, _ = await webhook.post(body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body)}"})
    assert (status, webhook.calls) == (200, [])


async def test_bodies_over_a_megabyte_are_refused_unread(webhook: Webhook) -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    status, _ = await webhook.post(body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body)}"})
    assert (status, webhook.calls) == (413, [])

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: chunked, refused while reading
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    url = f"http://127.0.0.1:{webhook.hook.port}/"
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    async with webhook.session.post(url, data=streamed(), headers=headers) as response:
        assert response.status == 413
    assert webhook.calls == []


def test_the_webhook_is_off_without_a_secret_and_says_what_is_missing() -> None:
    assert WebhookConfig.from_environ({}) is None
    assert WebhookConfig.from_environ({"KIJI_WEBHOOK_PORT": "8080"}) is None
    config = WebhookConfig.from_environ({"KIJI_WEBHOOK_SECRET": SECRET, "KIJI_WEBHOOK_PORT": "8080"})
    assert config is not None and (config.host, config.port) == ("127.0.0.1", 8080)
    assert SECRET not in repr(config)
    with pytest.raises(WebhookConfigError, match="KIJI_WEBHOOK_PORT is not"):
        WebhookConfig.from_environ({"KIJI_WEBHOOK_SECRET": SECRET})
    with pytest.raises(WebhookConfigError, match="must be a port number"):
        WebhookConfig.from_environ({"KIJI_WEBHOOK_SECRET": SECRET, "KIJI_WEBHOOK_PORT": "http"})


async def test_a_signed_push_makes_a_backed_off_git_source_fetch_at_once(
    git_daemon: GitDaemon, blog_remotes: BlogRemotes, store: Store, tmp_path: Path
) -> None:
    """The wiring the bot does: the webhook asks for a poll, the poll ingests the pushed post."""
    remote = blog_remotes.blog(posts=3)
    url = git_daemon.url(remote)
    spec = parse_spec(f"git+{url}")
    assert isinstance(spec, GitSpec)
    now = [1_800_000_000.0]
    source = GitSource(spec, tmp_path / "data", clock=lambda: now[0])
    await ingest_source(store, source)
    remote.take_away()
    with pytest.raises(Exception, match="not there"):
        await ingest_source(store, source)  # now backing off for 30 s of a clock that does not move
    remote.bring_back()
    remote.write("_posts/2031-02-02-pushed.md", "---\ntitle: Pushed\n---\nA pushed post about rockets.\n")
    remote.commit("A post")

    async def poll_now(name: str) -> None:
        assert name == source.name
        source.request_poll()
        await ingest_source(store, source)

    hook = PushWebhook(WebhookConfig("127.0.0.1", 0, SECRET), [source], poll_now)
    await hook.start()
    try:
        body = github_push(url)
        async with aiohttp.ClientSession() as session:
            unsigned = await session.post(
                f"http://127.0.0.1:{hook.port}/", data=body, headers={"X-GitHub-Event": "push"}
            )
            assert unsigned.status == 401
            assert await store.get_post_by_path("_posts/2031-02-02-pushed.md") is None
            signed = await session.post(
                f"http://127.0.0.1:{hook.port}/",
                data=body,
                headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body)}"},
            )
            assert signed.status == 202
    finally:
        await hook.stop()
    assert await store.get_post_by_path("_posts/2031-02-02-pushed.md") is not None


async def test_json_nested_too_deep_is_a_400_without_a_traceback(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    """A signed body of 100,000 nested arrays once gave a 500 and a RecursionError traceback."""
    caplog.set_level(logging.DEBUG)
    body = b"[" * 100_000 + b"]" * 100_000
    status, answer = await webhook.post(body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body)}"})
    assert status == 400
    assert "nested" in str(answer["error"])
    assert webhook.calls == []
    assert "Traceback" not in caplog.text and not any(record.exc_info for record in caplog.records)


async def test_a_client_leaving_mid_body_makes_one_line_at_most(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = github_push()
    head = (
        "POST /hooks/push HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: push\r\n"
        f"X-Hub-Signature-256: sha256={sign(body)}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", webhook.hook.port)
    writer.write(head.encode() + body[:20])
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    # the server notices the leaver when its read fails; a valid push on a new connection comes after it
    status, _ = await webhook.post(body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body)}"})
    assert status == 202
    assert await reader.read() == b""
    await webhook.hook.stop()  # every handler has ended, and has logged whatever it logs
    noted = [
        record for record in caplog.records if record.levelno >= logging.INFO and "disconnect" in record.getMessage()
    ]
    assert len(noted) <= 1
    assert not any(record.levelno >= logging.ERROR for record in caplog.records)
    assert "Traceback" not in caplog.text and not any(record.exc_info for record in caplog.records)
