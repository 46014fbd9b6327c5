"""A blog known only by its address: its feed for what is new, its sitemap for its past.

The SPEC is what people paste: the home page (which names its feed in `<link rel="alternate">`)
or the feed itself. The first poll finds the feed, reads it, and fills the archive from the
sitemap (see `sitemaps`), page by page; later polls ask for the feed with its validators, so an
unchanged feed costs one 304.

What a poll must remember is in the version it returns, recorded by ingest only after its commit:
the feed's address (after a permanent redirect, the new one), its validators, how much of the
archive was handed over, and until when the feed says it stays fresh. A crash before the commit
hands the same entries over again. The archive's pages are kept as they are extracted, one line
each, in `DATA_DIR/web/…/archive.jsonl`: an interrupted backfill resumes where it stopped and
never fetches a page twice; a page that failed is tried again at the next poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from bot.clock import SYSTEM_CLOCK, Clock
from bot.content.article_text import DerivedText
from bot.sources.base import Article, ArticleEntry, Articles, EntryProblem, SourceError
from bot.sources.canonical import canonical_url
from bot.sources.feeds import Feed, FeedError, FeedItem, discover, entry_keys, parse_feed, sniff
from bot.sources.fetcher import USER_AGENT, Fetched, Fetcher, FetchError, HostPolicy, Validators
from bot.sources.sitemaps import sitemap_pages
from bot.sources.specs import WebSpec, redact
from bot.sources.web_pages import PageError, html_to_markdown, read_page_and_text

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Archive pages fetched and extracted at once: enough to keep two extraction workers busy while
# the next pages arrive; the host's rate limit still spaces the requests.
PAGES_AT_ONCE = 8
# Archive posts handed over to be stored at once while the backfill goes on (see `_fill_archive`).
POSTS_HANDED_OVER_AT_ONCE = 64


@dataclass(frozen=True, slots=True)
class _State:
    """What the version string holds (JSON)."""

    feed: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fresh_until: float = 0.0
    archive_seen: int = 0  # lines of archive.jsonl already handed over
    archive_done: bool = False
    title: str | None = None
    home: str | None = None

    @classmethod
    def load(cls, version: str | None) -> _State:
        if not version:
            return cls()
        try:
            data = json.loads(version)
        except json.JSONDecodeError:
            return cls()
        return cls(**{key: value for key, value in data.items() if key in cls.__slots__})

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


def entry_version(article: Article, said: dict[str, object] | None = None) -> str:
    """A hash of everything an article says but its picture: a new one means the post was edited.

    `said`: the article as `asdict` gives it (or as the archive's JSON line keeps it), when the
    caller has made it already: a backfill makes it once a page, for the line and the version.
    """
    # not the picture: a stored post's version is its content hash, and a new one drops its summaries
    said = {key: value for key, value in (said if said is not None else asdict(article)).items() if key != "image"}
    data = json.dumps(said, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class WebSource:
    """The Source of a blog on the web (see the module docstring)."""

    def __init__(
        self,
        spec: WebSpec,
        data_dir: Path,
        *,
        clock: Clock = SYSTEM_CLOCK,
        fetch_rate: float = 2.0,
        backfill: bool = True,
        fetcher_options: dict[str, float] | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._spec = spec
        self._clock = clock
        self._policy = HostPolicy(clock, fetch_rate)
        self._backfill = backfill
        self._fetcher_options = fetcher_options or {}
        self._user_agent = user_agent
        digest = hashlib.blake2b(spec.name.encode("utf-8"), digest_size=6).hexdigest()
        self._folder = Path(data_dir) / "web" / f"{_SAFE.sub('_', urlsplit(spec.url).hostname or 'blog')}-{digest}"
        self._poll_requested = False
        self._progress: Callable[[int, int], None] | None = None
        self._early: Callable[[Articles], Awaitable[None]] | None = None
        self._executor: Executor | None = None
        self._pages_cache: tuple[int, dict[str, dict[str, object]]] | None = None
        # page address → its article's cleaned text and tokens, made as it was extracted, until handed over
        self._derived: dict[str, DerivedText] = {}
        self._handed: set[str] = set()  # archive pages handed over during this poll's backfill

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def display(self) -> str:
        return self._spec.display

    def report_progress(self, callback: Callable[[int, int], None] | None) -> None:
        """Call `callback(pages done, pages to fetch)` as the archive's backfill goes (the CLI's bar)."""
        self._progress = callback

    def hand_over_early(self, receive: Callable[[Articles], Awaitable[None]] | None) -> None:
        """Hand the feed's entries to `receive` before a backfill starts (see `abilities.HandsOverEarly`)."""
        self._early = receive

    def extract_with(self, executor: Executor | None) -> None:
        """Extract archive pages in `executor` (a process pool: see `abilities.ExtractsElsewhere`)."""
        self._executor = executor

    def request_poll(self) -> None:
        """Ask the feed at the next poll even if it said it stays fresh longer."""
        self._poll_requested = True

    @property
    def _gone_file(self) -> Path:
        return self._folder / "gone.txt"

    @property
    def _archive_file(self) -> Path:
        return self._folder / "archive.jsonl"

    async def poll(self, since: str | None) -> Articles:
        if self._gone_file.is_file():
            raise SourceError(self._gone_file.read_text(encoding="utf-8").strip())
        state = _State.load(since)
        forced, self._poll_requested = self._poll_requested, False
        self._derived, self._handed = {}, set()
        if since and not forced and state.fresh_until > self._clock.time():
            return Articles(version=since, title=state.title, home=state.home)
        async with Fetcher(self._policy, user_agent=self._user_agent, **self._fetcher_options) as fetcher:  # type: ignore[arg-type]
            try:
                state, entries, problems = await self._read_feed(fetcher, state)
                if self._backfill and not state.archive_done:
                    if self._early is not None and entries:  # the newest posts, readable during the backfill
                        early = await asyncio.to_thread(self._enriched, entries)
                        await self._early(Articles(None, tuple(early), title=state.title, home=state.home))
                    await self._fill_archive(fetcher, state, problems, {entry.canonical for entry in entries})
            except FetchError as exc:
                if exc.status == 410:
                    self._folder.mkdir(parents=True, exist_ok=True)
                    self._gone_file.write_text(str(exc) + "\n", encoding="utf-8")
                raise
        archived, seen = await asyncio.to_thread(self._archive_entries, state.archive_seen)
        if entries:
            entries = await asyncio.to_thread(self._enriched, entries)
        archive_done = self._backfill and not any(p.where.startswith(("page ", "sitemap")) for p in problems)
        state = replace(state, archive_seen=seen, archive_done=state.archive_done or archive_done)
        return Articles(
            version=state.dump(),
            entries=(*entries, *archived),
            problems=tuple(problems),
            title=state.title,
            home=state.home,
        )

    async def _read_feed(
        self, fetcher: Fetcher, state: _State
    ) -> tuple[_State, list[ArticleEntry], list[EntryProblem]]:
        """The feed's entries (none when it answered 304), and the state to remember."""
        if state.feed is None:
            answer, feed_url = await self._find_feed(fetcher)
        else:
            feed_url = state.feed
            answer = await fetcher.get(feed_url, Validators(state.etag, state.last_modified), accept=FEED_ACCEPT)
            feed_url = answer.moved_to or feed_url
        fresh = self._clock.time() + (answer.max_age or 0.0)
        state = replace(
            state,
            feed=feed_url,
            etag=answer.validators.etag or state.etag,
            last_modified=answer.validators.last_modified or state.last_modified,
        )
        if answer.not_modified:
            return replace(state, fresh_until=fresh), [], []
        try:
            feed = parse_feed(answer.body, answer.content_type, feed_url)
        except FeedError as exc:
            raise SourceError(f"{redact(feed_url)} {exc}; check that the SPEC is the blog's feed or home page") from exc
        if feed.ttl_seconds:
            fresh = max(fresh, self._clock.time() + feed.ttl_seconds)
        entries, problems = await asyncio.to_thread(_feed_entries, feed, feed_url)
        state = replace(state, fresh_until=fresh, title=feed.title or state.title, home=feed.home or state.home)
        return state, entries, problems

    async def _find_feed(self, fetcher: Fetcher) -> tuple[Fetched, str]:
        """The feed the SPEC names: the SPEC itself, or the feed its page links to."""
        url = self._spec.url
        answer = await fetcher.get(url, accept=FEED_ACCEPT)
        if sniff(answer.content_type, answer.body) != "html":
            return answer, answer.moved_to or url
        found = discover(answer.body, answer.url)
        if found is None:
            raise SourceError(
                f'{redact(url)} is a web page that names no feed (no <link rel="alternate"> of an RSS, Atom '
                "or JSON Feed type); give the address of the blog's feed instead"
            )
        feed_answer = await fetcher.get(found, accept=FEED_ACCEPT)
        return feed_answer, feed_answer.moved_to or found

    async def _fill_archive(
        self, fetcher: Fetcher, state: _State, problems: list[EntryProblem], in_feed: set[str]
    ) -> None:
        """Fetch and extract each sitemap page not extracted yet, keeping each as it is done.

        A few pages are fetched and extracted at once (`PAGES_AT_ONCE`; the host's rate limit still
        spaces the requests), extraction in the executor given by `extract_with` where there is one:
        it is most of a backfill's CPU. Pages are kept in the sitemap's order, each once it and those
        before it are done, so an interrupted backfill resumes after the last page kept.

        With an early receiver (`hand_over_early`), the posts kept are handed over in batches as the
        backfill goes, so they are stored while the next pages are extracted rather than all after
        the last one. Not the pages of posts `in_feed` (canonical addresses): the feed's entry
        must win over its page, and the two meet only in the poll's answer. What the poll answers
        leaves out what was handed over; its version is still recorded only after its commit.
        """
        home = state.home or self._spec.url
        pages, sitemap_problems = await sitemap_pages(fetcher, home)
        problems.extend(EntryProblem("sitemap", reason) for reason in sitemap_problems)
        done = await asyncio.to_thread(self._archived_pages)
        self._folder.mkdir(parents=True, exist_ok=True)
        to_fetch = [page for page in pages if page not in done]
        in_flight: deque[asyncio.Task[tuple[dict[str, object], Article | None] | EntryProblem]] = deque()
        waiting = iter(to_fetch)
        kept = 0
        handing: list[tuple[str, ArticleEntry]] = []
        with self._archive_file.open("a", encoding="utf-8") as out:

            def keep(read: tuple[dict[str, object], Article | None] | EntryProblem) -> None:
                if isinstance(read, EntryProblem):
                    problems.append(read)
                    return
                line, article = read
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                page = str(line["url"])
                key = canonical_url(page)
                if article is not None and self._early is not None and key not in in_feed:
                    derived = self._derived.pop(page, None)
                    version = entry_version(article, line["article"])  # type: ignore[arg-type]
                    entry = ArticleEntry(key, version, key, article, archive=True, derived=derived)
                    handing.append((page, entry))

            async def hand_over() -> None:
                assert self._early is not None
                batch = handing[:]
                handing.clear()
                out.flush()  # the pages kept so far are on disk before their posts are stored
                self._handed.update(page for page, _ in batch)
                entries = tuple(entry for _, entry in batch)
                await self._early(Articles(None, entries, title=state.title, home=state.home))

            try:
                while True:
                    while len(in_flight) < PAGES_AT_ONCE and (page := next(waiting, None)) is not None:
                        in_flight.append(asyncio.ensure_future(self._read_archived_page(fetcher, page)))
                    if not in_flight:
                        break
                    if self._progress is not None:
                        self._progress(kept, len(to_fetch))
                    keep(await in_flight.popleft())
                    kept += 1
                    if len(handing) >= POSTS_HANDED_OVER_AT_ONCE:
                        await hand_over()
                if handing:
                    await hand_over()
            finally:  # interrupted: the pages already read are kept too, so none is fetched twice
                for task in in_flight:
                    if task.done() and not task.cancelled() and task.exception() is None:
                        keep(task.result())
                    else:
                        task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)
        if self._progress is not None and to_fetch:
            self._progress(len(to_fetch), len(to_fetch))

    async def _read_archived_page(
        self, fetcher: Fetcher, page: str
    ) -> tuple[dict[str, object], Article | None] | EntryProblem:
        """One sitemap page as the archive keeps it (its article None: not a post) and its article, or why it failed.

        Its article is cleaned in the same call that extracts it; what that derives is kept in
        memory (`_derived`) for the entry handed over.
        """
        try:
            answer = await fetcher.get(page, accept="text/html")
            read = (answer.body, answer.url, answer.charset)
            if self._executor is not None:
                loop = asyncio.get_running_loop()
                article, derived = await loop.run_in_executor(self._executor, read_page_and_text, *read)
            else:
                article, derived = await asyncio.to_thread(read_page_and_text, *read)
        except (FetchError, PageError) as exc:
            return EntryProblem(f"page {page}", str(exc))
        if derived is not None:
            self._derived[page] = derived
        return {"url": page, "article": asdict(article) if article else None}, article

    def _enriched(self, entries: list[ArticleEntry]) -> list[ArticleEntry]:
        """Feed entries with what only their page says (Hugo's RSS has no tags; the page does).

        A page's tags (`rel="tag"`, `article:tag`, JSON-LD keywords) win over the feed's: jekyll-feed
        and WordPress write a post's categories and tags alike as the entry's `<category>`, so the
        feed's terms the page does not call tags are the post's categories.
        Done at every read of the feed, so an entry's version does not change between polls.
        """
        pages = self._page_metadata()
        enriched = []
        for entry in entries:
            page = pages.get(entry.canonical)
            article = entry.article
            if page is not None:
                page_tags = tuple(page["tags"] or ())  # type: ignore[arg-type]
                categories = article.categories or tuple(term for term in article.tags if term not in page_tags)
                article = replace(
                    article,
                    tags=page_tags or article.tags,
                    categories=categories if page_tags else article.categories,
                    author=article.author or page["author"],
                    description=article.description or page["description"],
                    image=page.get("image") or article.image,  # the page's og:image first
                )
            enriched.append(replace(entry, article=article, version=entry_version(article)))
        return enriched

    def _page_metadata(self) -> dict[str, dict[str, object]]:
        """canonical address → tags, author, description of each archived page (cached by file size)."""
        size = self._archive_file.stat().st_size if self._archive_file.is_file() else 0
        if self._pages_cache is not None and self._pages_cache[0] == size:
            return self._pages_cache[1]
        pages: dict[str, dict[str, object]] = {}
        if size:
            with self._archive_file.open(encoding="utf-8") as lines:
                for line in lines:
                    kept = json.loads(line) if line.strip() else {}
                    if kept.get("article"):
                        article = kept["article"]
                        pages[canonical_url(kept["url"])] = {
                            key: article.get(key) for key in ("tags", "author", "description", "image")
                        }
        self._pages_cache = (size, pages)
        return pages

    def _archived_pages(self) -> set[str]:
        if not self._archive_file.is_file():
            return set()
        with self._archive_file.open(encoding="utf-8") as lines:
            return {json.loads(line)["url"] for line in lines if line.strip()}

    def _archive_entries(self, seen: int) -> tuple[list[ArticleEntry], int]:
        """Entries of the archive's lines from `seen` on, and how many lines there are now."""
        if not self._archive_file.is_file():
            return [], seen
        entries: list[ArticleEntry] = []
        count = 0
        with self._archive_file.open(encoding="utf-8") as lines:
            for count, line in enumerate(lines, start=1):
                if count <= seen or not line.strip():
                    continue
                kept = json.loads(line)
                if kept["url"] in self._handed:
                    continue  # stored already, during the backfill
                raw = kept["article"]
                if raw is None:
                    continue
                article = Article(**{**raw, "tags": tuple(raw["tags"]), "categories": tuple(raw["categories"])})
                # keyed by the address the sitemap gave, which is the feed entry's link: a page's own
                # canonical tag may name another site (a post first published elsewhere)
                key = canonical_url(kept["url"])
                derived = self._derived.pop(kept["url"], None)
                version = entry_version(article, raw)
                entries.append(ArticleEntry(key, version, key, article, archive=True, derived=derived))
        self._derived, self._handed = {}, set()
        return entries, max(count, seen)


def _feed_entries(feed: Feed, feed_url: str) -> tuple[list[ArticleEntry], list[EntryProblem]]:
    """The feed's items as entries with their keys; items without a date, link or identity are problems."""
    entries: list[ArticleEntry] = []
    problems: list[EntryProblem] = []
    for item, key in zip(feed.items, entry_keys(feed.items), strict=True):
        name = f"entry {item.title or item.id or item.link or '(untitled)'}"
        missing = [
            what for what, value in (("date", item.published), ("link", item.link), ("identity", key)) if not value
        ]
        if missing:
            problems.append(EntryProblem(name, f"has no {' and no '.join(missing)}; Kiji cannot place or link it"))
            continue
        article = _article(item)
        entries.append(ArticleEntry(str(key), entry_version(article), canonical_url(str(item.link)), article))
    if feed.items and not entries:
        first = problems[0].reason if problems else "no entry could be read"
        raise SourceError(
            f"{redact(feed_url)}: none of its {len(feed.items)} entries can be used (the first {first}); "
            "Kiji needs a date and a link in each entry: ask the blog's owner to fix the feed"
        )
    return entries, problems


def _article(item: FeedItem) -> Article:
    assert item.link is not None and item.published is not None
    return Article(
        title=item.title or item.link,
        url=item.link,
        published=item.published,
        body=html_to_markdown(item.html),
        author=item.author,
        description=item.summary,
        tags=item.tags,
        updated=item.updated,
        image=item.image,
    )
