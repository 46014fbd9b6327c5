"""The push webhook under slow, silent and endless clients, over real sockets on 127.0.0.1 (issue 21).

Raw `asyncio.open_connection` clients play the slow ones; the server's timers run on a
`ManualClock`, so "five seconds later" is `clock.advance(5)`, and `wait_for_sleepers` tells
when the server has accepted a connection and armed its timer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.clock import ManualClock
from bot.services.bounded_http import READING
from bot.services.webhooks import PushWebhook, WebhookConfig
from bot.sources.specs import repository_key

SECRET = "slow-client-secret-Qz7"
REPO_ROOT = Path(__file__).resolve().parents[3]
HEADER_TIMEOUT, BODY_TIMEOUT, LOG_INTERVAL = 5.0, 10.0, 60.0


@dataclass(frozen=True)
class Followed:
    name: str
    repository_key: str


BLOG = Followed("github.com/owner/blog", repository_key("https://github.com/owner/blog.git"))
PUSH = json.dumps({"repository": {"clone_url": "https://github.com/owner/blog.git"}}).encode()


def signed_headers(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}"}


def endless_body_head(length: int = 1000) -> bytes:
    """Complete, signed-looking headers announcing a body that will never all come."""
    headers = "".join(f"{name}: {value}\r\n" for name, value in signed_headers(b"x" * length).items())
    return f"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {length}\r\n\r\n".encode() + b"{" * 10


SLOW_KINDS: dict[str, bytes] = {
    "silent": b"",
    "half-headers": b"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Ev",
    "endless-body": endless_body_head(),
}


@dataclass
class Server:
    hook: PushWebhook
    clock: ManualClock
    calls: list[str]

    async def slow_client(self, opening: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.hook.port)
        if opening:
            writer.write(opening)
            await writer.drain()
        return reader, writer

    async def push(self) -> int:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session,
            session.post(f"http://127.0.0.1:{self.hook.port}/", data=PUSH, headers=signed_headers(PUSH)) as response,
        ):
            return response.status

    async def armed(self, connections: int) -> None:
        """Until `connections` connections wait on a timer (plus the log's own flush timer)."""
        await self.clock.wait_for_sleepers(connections + 1)


async def answer_then_close(reader: asyncio.StreamReader) -> bytes:
    """Whatever the server sends before closing (b"" when it closes without a word); 10 s bound."""
    try:
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        return b""


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    started: list[PushWebhook] = []

    async def start(max_connections: int = 4) -> Server:
        calls: list[str] = []
        clock = ManualClock(1_800_000_000.0)
        hook = PushWebhook(
            WebhookConfig("127.0.0.1", 0, SECRET),
            [BLOG],
            calls.append,
            header_timeout=HEADER_TIMEOUT,
            body_timeout=BODY_TIMEOUT,
            max_connections=max_connections,
            log_interval=LOG_INTERVAL,
            clock=clock,
        )
        await hook.start()
        started.append(hook)
        return Server(hook, clock, calls)

    yield start
    for hook in started:
        await hook.stop()


async def test_clients_that_send_nothing_or_half_their_headers_are_closed_after_the_header_timeout(serve) -> None:
    server: Server = await serve()
    silent, _ = await server.slow_client(SLOW_KINDS["silent"])
    halfway, _ = await server.slow_client(SLOW_KINDS["half-headers"])
    await server.armed(2)
    assert server.hook.server.open_connections == 2
    server.clock.advance(HEADER_TIMEOUT)
    assert await answer_then_close(silent) == b""
    assert await answer_then_close(halfway) == b""
    assert server.calls == []


async def test_a_body_that_never_ends_is_answered_408_after_the_body_timeout(serve) -> None:
    server: Server = await serve()
    endless, _ = await server.slow_client(SLOW_KINDS["endless-body"])
    await server.hook.server.wait_for_stages(lambda stages: stages[READING] == 1)
    await server.armed(1)  # the body's timer (the header timer ended with the headers)
    server.clock.advance(BODY_TIMEOUT)
    answer = await answer_then_close(endless)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b"did not arrive in time" in answer
    assert server.calls == []


@pytest.mark.parametrize("kind", list(SLOW_KINDS))
async def test_a_valid_push_is_answered_while_the_bound_is_full_of_slow_clients(serve, kind: str) -> None:
    """Each newcomer at the bound closes the oldest slow connection; the slow ones cannot crowd a push out."""
    server: Server = await serve(max_connections=4)
    slow = [await server.slow_client(SLOW_KINDS[kind]) for _ in range(4)]
    await server.armed(4)
    assert await server.push() == 202
    assert server.calls == [BLOG.name]
    assert await answer_then_close(slow[0][0]) == b""  # the oldest, closed to let the push in
    assert server.hook.server.open_connections <= 4
    server.clock.advance(max(HEADER_TIMEOUT, BODY_TIMEOUT))
    for reader, _ in slow[1:]:
        answer = await answer_then_close(reader)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:100]


async def test_many_more_slow_clients_than_the_bound_never_hold_more_than_it(serve) -> None:
    server: Server = await serve(max_connections=4)
    clients = [await server.slow_client(SLOW_KINDS["half-headers"]) for _ in range(20)]
    assert await server.push() == 202
    assert server.hook.server.open_connections <= 4
    for reader, _ in clients[:16]:  # the 16 oldest made room for the newer ones and the push
        assert await answer_then_close(reader) == b""


async def test_repeated_failures_are_logged_once_per_interval_with_a_count(
    serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.services")
    server: Server = await serve(max_connections=100)
    clients = [await server.slow_client(SLOW_KINDS["silent"]) for _ in range(30)]
    await server.armed(30)
    server.clock.advance(HEADER_TIMEOUT)
    for reader, _ in clients:
        assert await answer_then_close(reader) == b""
    async with aiohttp.ClientSession() as session:
        for _ in range(20):
            async with session.post(f"http://127.0.0.1:{server.hook.port}/", data=PUSH) as response:
                assert response.status == 401
    lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert lines == [
        "push webhook: closed a connection still waiting for headers after 5 s",
        "push webhook: a delivery without a signature or token from 127.0.0.1, refused",
    ]
    server.clock.advance(LOG_INTERVAL)
    await server.clock.wait_for_sleepers(1)  # the log's flush has run and sleeps again
    lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert lines[2:] == [
        "push webhook: 29 more connections closed while waiting for headers in the last 60 s",
        "push webhook: 19 more deliveries without a signature or token in the last 60 s",
    ]


CHILD = """
import asyncio, logging, resource, sys
from bot.services.webhooks import PushWebhook, WebhookConfig

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

class Blog:
    name = "blog"
    repository_key = sys.argv[2]

def trigger(name):  # what /about did: open a file, which failed once the webhook held every descriptor
    try:
        with open(sys.argv[3]) as opened:
            print("trigger opened a file", flush=True)
    except OSError as error:
        print("trigger could not open a file:", error, flush=True)

async def main():
    bound = {"default": {}, "above-the-limit": {"max_connections": 10_000}}[sys.argv[4]]
    hook = PushWebhook(WebhookConfig("127.0.0.1", 0, sys.argv[1]), [Blog()], trigger, **bound)
    await hook.start()
    print(hook.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.parametrize("bound", ["default", "above-the-limit"])
async def test_a_push_is_answered_when_slow_clients_outnumber_the_file_limit(bound: str, tmp_path: Path) -> None:
    """A child process under RLIMIT_NOFILE=64 meets 100 silent clients, then a signed push."""
    readable = tmp_path / "about.txt"
    readable.write_text("what /about reads")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        SECRET,
        BLOG.repository_key,
        str(readable),
        bound,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    writers: list[asyncio.StreamWriter] = []
    try:
        port = int(await asyncio.wait_for(child.stdout.readline(), 30))
        for _ in range(100):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writers.append(writer)
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(f"http://127.0.0.1:{port}/", data=PUSH, headers=signed_headers(PUSH)) as response,
        ):
            assert response.status == 202
        said = await asyncio.wait_for(child.stdout.readline(), 30)
        if bound == "default":  # the bound keeps descriptors for the rest of the bot
            assert said == b"trigger opened a file\n"
    finally:
        for writer in writers:
            writer.close()
        if child.returncode is None:
            child.terminate()
        _, errors_bytes = await asyncio.wait_for(child.communicate(), 30)
    errors = errors_bytes.decode()
    assert "out of system resource" not in errors
    assert "Traceback" not in errors
    assert len(errors.splitlines()) <= 10, errors[-3000:]
