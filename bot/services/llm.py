"""An optional language-model summariser over any OpenAI-compatible chat-completions server.

Ollama, llama.cpp's server, vLLM and hosted APIs all speak `POST /v1/chat/completions`.
The model is never trusted: its answer is checked for shape, stripped of markup that
would render oddly, cut to Discord's limits, and shown with mentions disabled by the
caller. Any failure — timeout, HTTP error, malformed or empty answer — raises LLMError so
the caller can fall back to the extractive summary.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import aiohttp

from bot.content import limits
from bot.settings import Settings

log = logging.getLogger(__name__)

PROMPT_VERSION = "1"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_SENTENCES = {"short": 2, "standard": 3, "long": 6}
# Markup a model likes to add that would render as formatting or links in an embed.
_MARKUP = re.compile(r"(^#+\s*|\*\*|__|`{1,3}|^>\s*)", re.MULTILINE)


class LLMError(Exception):
    """The model could not give a usable summary; the message says why (never the API key)."""


@dataclass(frozen=True, slots=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str | None
    timeout: float
    prompt_chars: int


def is_japanese(text: str) -> bool:
    sample = text[:2000]
    return bool(sample) and len(_CJK.findall(sample)) / len(sample) > 0.1


def build_messages(title: str, text: str, length: str, prompt_chars: int) -> list[dict[str, str]]:
    """The chat prompt: the cleaned, de-duplicated text, cut to the configured budget."""
    japanese = is_japanese(title + text)
    count = _SENTENCES.get(length, 3)
    if japanese:
        instruction = (
            f"あなたはブログ記事の要約者です。記事の要点を日本語で{count}文に要約してください。"
            "タイトルを繰り返さず、挨拶や宣伝は含めず、Markdownを使わず本文だけを出力してください。"
        )
    else:
        instruction = (
            f"You summarise blog articles. Summarise the article's key points in {count} sentences in English. "
            "Do not repeat the title, skip greetings and promotions, use no Markdown, output only the summary."
        )
    body = limits.cut(text, prompt_chars)
    return [
        {"role": "system", "content": instruction},
        {"role": "user", "content": f"{title}\n\n{body}"},
    ]


def clean_answer(content: object) -> str:
    """The model's text made safe to show, or LLMError if there is nothing usable."""
    if not isinstance(content, str):
        raise LLMError("the model's answer has no text content")
    text = _MARKUP.sub("", content).strip()
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if len(text) < 10:
        raise LLMError("the model's answer is empty or too short to be a summary")
    return limits.cut(text, limits.EMBED_DESCRIPTION)


def client_from_settings(settings: Settings) -> LLMClient | None:
    """The configured model's client, or None when no model is configured (extractive summaries only)."""
    if not (settings.llm_base_url and settings.llm_model):
        return None
    return LLMClient(
        LLMConfig(
            settings.llm_base_url,
            settings.llm_model,
            settings.llm_api_key,
            settings.llm_timeout,
            settings.llm_prompt_chars,
        )
    )


class LLMClient:
    """Asks one configured model for summaries; owns its HTTP session (opened on first use)."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    @property
    def source(self) -> str:
        """The cache key part naming the producer, so another model or prompt recomputes."""
        return f"llm:{self.config.model}:{PROMPT_VERSION}"

    @property
    def version(self) -> str:
        """What else shaped the answer: the prompt's version and how much of the text the model saw."""
        return f"{PROMPT_VERSION}:{self.config.prompt_chars}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def summarize(self, title: str, text: str, length: str) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        payload = {
            "model": self.config.model,
            "messages": build_messages(title, text, length, self.config.prompt_chars),
            "temperature": 0.2,
            "stream": False,
        }
        url = self.config.base_url.rstrip("/")
        if not url.endswith("/chat/completions"):
            url += "/chat/completions" if url.endswith("/v1") else "/v1/chat/completions"
        try:
            async with self._session.post(url, json=payload, headers=headers) as response:
                if response.status != 200:
                    raise LLMError(f"the model server answered HTTP {response.status}")
                data = await response.json(content_type=None)
        except TimeoutError:
            raise LLMError(f"the model did not answer within {self.config.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise LLMError(f"cannot reach the model server: {type(exc).__name__}") from None
        except ValueError:
            raise LLMError("the model server's answer is not JSON") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError("the model server's answer is not a chat completion") from None
        return clean_answer(content)
