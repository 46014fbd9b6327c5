"""Every HTTP request Kiji makes to a blog, made politely and within bounds, in one place.

A feed reader that polls thousands of blogs is judged by how it treats their servers: it asks
with validators (`If-None-Match`, `If-Modified-Since`) so an unchanged feed costs a 304, accepts
gzip, waits as long as `Retry-After` says, obeys robots.txt (`Disallow`, `Crawl-delay`), never
sends more than `rate` requests a second to one host, and says who it is in its User-Agent.
It is also bounded against hostile servers: a connect and a whole-request timeout, a body
limit counted after decompression, at most five redirects and only to http/https.

Time comes from the injected clock, so tests move through back-offs and rate limits without
waiting. Errors are `FetchError`s whose message says what happened and what to do.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import aiohttp

from bot.clock import SYSTEM_CLOCK, Clock
from bot.sources.base import SourceError
from bot.sources.specs import redact

log = logging.getLogger(__name__)

MAX_BODY = 20 * 1024 * 1024
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 10.0
TOTAL_TIMEOUT = 30.0
RETRIES = 3  # attempts after a 429 or 503
BACKOFF_BASE = 5.0
LONGEST_WAIT = 300.0  # a Retry-After longer than this ends the poll; the next one tries again
ROBOTS_SECONDS = 24 * 3600.0


def _kiji_version() -> str:
    try:
        return version("kiji")
    except PackageNotFoundError:
        return "0"


def user_agent(home_page: str | None = None) -> str:
    """Who is asking, for the blog's owner reading their logs: Kiji, its version, and where to learn more.

    Kiji has no public home page of its own; the operator may name one (KIJI_USER_AGENT_URL: their
    bot's page, or a contact page), else the User-Agent says whom to ask.
    """
    if home_page:
        return f"Kiji/{_kiji_version()} (Discord bot for blog articles; +{redact(home_page)})"
    return f"Kiji/{_kiji_version()} (Discord bot for blog articles; contact: the bot operator)"


USER_AGENT = user_agent()
_ROBOTS_AGENT = "Kiji"


class FetchError(SourceError):
    """A request that did not bring a usable answer. `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """An answer: 200 with a body, or 304 (`not_modified`) with none."""

    url: str  # where the answer came from, after redirects
    status: int
    body: bytes
    content_type: str  # the media type, lower case, without parameters
    charset: str | None
    validators: Validators
    moved_to: str | None = None  # the new address when every redirect on the way was permanent
    max_age: float | None = None  # Cache-Control max-age: how long the answer stays fresh

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class HostPolicy:
    """What Kiji keeps per host across polls: the next free request slot and robots.txt."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, rate: float = 2.0) -> None:
        self.clock = clock
        self.rate = rate
        self._next_slot: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._robots: dict[str, tuple[float, RobotFileParser | None]] = {}

    async def wait_turn(self, host: str) -> None:
        """Wait for this host's next slot: 1/rate seconds apart, or its Crawl-delay if longer."""
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:
            gap = 1.0 / self.rate if self.rate > 0 else 0.0
            robots = self._robots.get(host, (0.0, None))[1]
            delay = robots.crawl_delay(_ROBOTS_AGENT) if robots is not None else None
            if delay:
                gap = max(gap, float(delay))
            now = self.clock.monotonic()
            slot = self._next_slot.get(host, now)
            if slot > now:
                await self.clock.sleep(slot - now)
            self._next_slot[host] = max(slot, now) + gap

    def robots_for(self, host: str) -> RobotFileParser | bool | None:
        """The host's robots.txt rules; None: no rules (allow all); False: not read yet or too old."""
        read_at, robots = self._robots.get(host, (None, None))
        if read_at is None or self.clock.monotonic() - read_at > ROBOTS_SECONDS:
            return False
        return robots

    def remember_robots(self, host: str, robots: RobotFileParser | None) -> None:
        self._robots[host] = (self.clock.monotonic(), robots)

    def sitemaps(self, host: str) -> list[str]:
        """The `Sitemap:` lines of the host's robots.txt, once it has been read."""
        robots = self._robots.get(host, (0.0, None))[1]
        return list(robots.site_maps() or []) if robots is not None else []


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _max_age(cache_control: str | None) -> float | None:
    for part in (cache_control or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value)
    return None


class Fetcher:
    """HTTP GETs for one poll of one source, over one aiohttp session (`async with Fetcher(...)`)."""

    def __init__(
        self,
        policy: HostPolicy,
        *,
        max_body: int = MAX_BODY,
        connect_timeout: float = CONNECT_TIMEOUT,
        total_timeout: float = TOTAL_TIMEOUT,
        retries: int = RETRIES,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.policy = policy
        self.user_agent = user_agent
        self.max_body = max_body
        self.retries = retries
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self._total_timeout = total_timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, headers={"User-Agent": self.user_agent}, auto_decompress=True
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, url: str, validators: Validators | None = None, *, accept: str = "*/*") -> Fetched:
        """GET `url`, following up to MAX_REDIRECTS redirects; raises FetchError naming what went wrong."""
        seen: set[str] = set()
        permanent = True
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(current, url)
            if current in seen:
                raise FetchError(f"{redact(url)} redirects in a loop; open it in a browser and give the final address")
            seen.add(current)
            await self._check_robots(current)
            answer = await self._get_once(current, validators, accept)
            if isinstance(answer, Fetched):
                moved = answer.url if permanent and answer.url != url else None
                return _with_move(answer, moved)
            status, location = answer
            permanent = permanent and status in (301, 308)
            current = urljoin(current, location)
        raise FetchError(
            f"{redact(url)} redirects more than {MAX_REDIRECTS} times; give the final address of the feed instead"
        )

    async def sitemaps_of(self, origin: str) -> list[str]:
        """The `Sitemap:` lines of the robots.txt of `origin` (scheme://host), read if not read yet."""
        await self._robots(_host(origin))
        return self.policy.sitemaps(_host(origin))

    async def _robots(self, host: str) -> RobotFileParser | None:
        robots = self.policy.robots_for(host)
        if robots is False:
            robots = await self._read_robots(host)
            self.policy.remember_robots(host, robots)
        return robots

    async def _check_robots(self, url: str) -> None:
        robots = await self._robots(_host(url))
        if robots is not None and not robots.can_fetch(_ROBOTS_AGENT, url):
            raise FetchError(f"{redact(url)}: the site's robots.txt disallows it for crawlers; Kiji does not read it")

    async def _read_robots(self, host: str) -> RobotFileParser | None:
        robots_url = f"{host}/robots.txt"
        try:
            answer = await self._get_once(robots_url, None, "text/plain")
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return None  # no robots.txt: everything is allowed (RFC 9309)
            raise FetchError(f"{redact(host)}/robots.txt could not be read ({exc}); Kiji waits until it can") from exc
        if isinstance(answer, tuple):
            return None  # a redirected robots.txt is rare; treat it as none rather than chase it
        parser = RobotFileParser(robots_url)
        parser.parse(answer.body.decode("utf-8", "replace").splitlines())
        return parser

    async def _get_once(self, url: str, validators: Validators | None, accept: str) -> Fetched | tuple[int, str]:
        """One request, retried after 429/503 as the server asks: the answer, or (status, Location)."""
        assert self._session is not None, "use `async with Fetcher(...)`"
        headers = {"Accept": accept}
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        shown = redact(url)
        for attempt in range(self.retries + 1):
            await self.policy.wait_turn(_host(url))
            try:
                async with self._session.get(url, headers=headers, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchError(f"{shown} answered {response.status} without a Location", response.status)
                        return response.status, location
                    if response.status in (429, 503) and attempt < self.retries:
                        wait = _retry_after(response.headers.get("Retry-After"), self.policy.clock.time())
                        wait = BACKOFF_BASE * 2**attempt if wait is None else wait
                        if wait > LONGEST_WAIT:
                            raise FetchError(
                                f"{shown} answered {response.status} and asks Kiji to wait {wait:.0f} s; "
                                "it tries again at a later poll",
                                response.status,
                            )
                        log.info("%s answered %d; trying again in %.0f s", shown, response.status, wait)
                        await self.policy.clock.sleep(wait)
                        continue
                    if response.status == 304:
                        return self._answer(url, response, b"")
                    if response.status != 200:
                        raise FetchError(_status_message(shown, response.status, response.reason), response.status)
                    return self._answer(url, response, await self._read_body(response, shown))
            except TimeoutError as exc:
                raise FetchError(
                    f"{shown} did not answer within {self._total_timeout:.0f} s; Kiji tries again at the next poll"
                ) from exc
            except aiohttp.ClientError as exc:
                raise FetchError(f"cannot reach {shown}: {redact(str(exc)) or type(exc).__name__}") from exc
        raise FetchError(f"{shown} kept answering 429/503; Kiji tries again at the next poll")  # pragma: no cover

    async def _read_body(self, response: aiohttp.ClientResponse, shown: str) -> bytes:
        too_big = FetchError(
            f"{shown} is larger than {self.max_body // (1024 * 1024)} MB; Kiji refuses bodies that big "
            "(is it really a feed or a blog page?)"
        )
        if response.content_length is not None and response.content_length > self.max_body:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_body:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _answer(url: str, response: aiohttp.ClientResponse, body: bytes) -> Fetched:
        return Fetched(
            url=url,
            status=response.status,
            body=body,
            content_type=(response.content_type or "").lower(),
            charset=response.charset,
            validators=Validators(response.headers.get("ETag"), response.headers.get("Last-Modified")),
            max_age=_max_age(response.headers.get("Cache-Control")),
        )


def _with_move(answer: Fetched, moved: str | None) -> Fetched:
    if moved is None:
        return answer
    return Fetched(
        answer.url, answer.status, answer.body, answer.content_type, answer.charset, answer.validators, moved,
        answer.max_age,
    )  # fmt: skip


def _check_scheme(url: str, asked: str) -> None:
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise FetchError(f"{redact(asked)} leads to {redact(url)}: Kiji follows only http and https addresses")


def _status_message(shown: str, status: int, reason: str | None) -> str:
    said = f"{shown} answered {status} {reason or ''}".rstrip()
    if status == 404:
        return f"{said}: nothing is there; check the address (open it in a browser) and fix the SPEC"
    if status == 410:
        return f"{said}: the blog removed it for good; Kiji stopped reading it (remove it from KIJI_SOURCES)"
    if status in (401, 403):
        return f"{said}: the server does not let Kiji read it; Kiji reads only public feeds and pages"
    if status >= 500:
        return f"{said}: the server is failing; Kiji tries again at the next poll"
    return f"{said}: Kiji cannot use this answer; check the address"
