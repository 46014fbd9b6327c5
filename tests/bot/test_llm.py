"""The language-model client against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import pytest
from fake_llm import GOOD_ANSWER, FakeLLM

from bot.content import limits
from bot.services.llm import LLMClient, LLMConfig, LLMError, build_messages


@pytest.fixture
async def fake_llm():
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def client(server: FakeLLM, timeout: float = 2.0, api_key: str | None = "sk-test") -> LLMClient:
    return LLMClient(LLMConfig(server.base_url, "tiny-model", api_key, timeout, 500))


async def test_good_answer_and_request_shape(fake_llm: FakeLLM) -> None:
    llm = client(fake_llm)
    try:
        answer = await llm.summarize("Llama 4の発表", "本文。" * 400, "standard")
    finally:
        await llm.close()
    assert answer == GOOD_ANSWER
    [request] = fake_llm.requests
    assert request["model"] == "tiny-model"
    assert request["messages"][0]["role"] == "system" and "3文" in request["messages"][0]["content"]
    assert len(request["messages"][1]["content"]) <= len("Llama 4の発表\n\n") + 500  # the prompt budget
    assert fake_llm.headers[0]["Authorization"] == "Bearer sk-test"


def test_prompt_language_follows_the_post() -> None:
    english = build_messages("A title", "An English body about models. " * 20, "short", 1000)
    assert "in English" in english[0]["content"] and "2 sentences" in english[0]["content"]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("error", "HTTP 503"), ("garbage", "not JSON"), ("wrong-shape", "not a chat completion")],
)
async def test_failures_raise_llm_error_with_reason(fake_llm: FakeLLM, mode: str, reason: str) -> None:
    fake_llm.mode = mode
    llm = client(fake_llm)
    try:
        with pytest.raises(LLMError, match=reason):
            await llm.summarize("t", "本文", "short")
    finally:
        await llm.close()


async def test_slow_model_times_out(fake_llm: FakeLLM) -> None:
    fake_llm.mode = "slow"
    llm = client(fake_llm, timeout=0.3)
    try:
        with pytest.raises(LLMError, match=r"did not answer within 0\.3s"):
            await llm.summarize("t", "本文", "short")
    finally:
        await llm.close()


async def test_hostile_answer_is_stripped_and_cut(fake_llm: FakeLLM) -> None:
    fake_llm.mode = "hostile"
    llm = client(fake_llm)
    try:
        answer = await llm.summarize("t", "本文", "long")
    finally:
        await llm.close()
    assert len(answer) <= limits.EMBED_DESCRIPTION and answer.endswith(limits.ELLIPSIS)
    assert "**" not in answer


async def test_unreachable_server_is_an_llm_error() -> None:
    llm = LLMClient(LLMConfig("http://127.0.0.1:9", "m", None, 1.0, 100))
    try:
        with pytest.raises(LLMError, match="cannot reach"):
            await llm.summarize("t", "本文", "short")
    finally:
        await llm.close()
