"""A small OpenAI-compatible chat-completions server on 127.0.0.1 for LLM tests.

`mode` picks the behaviour of the next requests: a good answer, a slow one (held until
`release` is set: it trips the client's timeout, or with a long timeout holds the request
in flight), an HTTP error, a non-JSON body, a wrong JSON shape, or a hostile answer full of
mentions and Markdown. Every request body is kept for assertions; `arrived` is set when
one comes in.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

GOOD_ANSWER = "Metaは新モデルを発表した。推論コストの削減が焦点である。企業導入が加速する見込みだ。"
HOSTILE_ANSWER = "@everyone **今すぐ** <@123> 読んでください [link](https://evil.example) " + "長文" * 3000


class FakeLLM:
    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        self.arrived.set()
        if self.mode == "slow":
            await self.release.wait()  # held until the test ends: the client must time out first
        if self.mode == "error":
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        if self.mode == "garbage":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if self.mode == "wrong-shape":
            return web.json_response({"choices": []})
        content = HOSTILE_ANSWER if self.mode == "hostile" else GOOD_ANSWER
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            }
        )
