"""Finding what a user meant: posts and tags by id, title or a near miss.

Autocomplete sends a post id, but a user may also type a title and press enter, or
misspell a tag. Exact ids win, then NFKC/case-insensitive title substrings, and when
nothing matches, up to five fuzzy "did you mean" suggestions.
"""

from __future__ import annotations

from rapidfuzz import fuzz, process

from bot.content import limits
from bot.content.textnorm import normalize_key
from bot.models import Post
from bot.store import KijiStore

SUGGESTIONS = 5
_FUZZY_CUTOFF = 55.0


def parse_id(text: str) -> int | None:
    """`text` as a row or Discord id, or None: only ASCII digits SQLite's INTEGER can hold.

    str.isdigit alone also accepts "²" and "①" (int() then fails) and 10**20 (SQLite overflows).
    """
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        return int(text)
    return None


async def resolve_post(store: KijiStore, value: str, source_id: int | None = None) -> Post | None:
    """The visible post `value` names: an autocomplete id, or a unique-enough title match (in one blog, if given)."""
    value = value.strip()
    if not value:
        return None
    if (post_id := parse_id(value)) is not None:
        post = await store.get_post(post_id)
        if post is not None and not post.scheduled():
            return post
    matches = await store.search_titles(value, 25, source_id=source_id)
    key = normalize_key(value)
    for post_id, title in matches:
        if normalize_key(title) == key:
            return await store.get_post(post_id)
    return await store.get_post(matches[0][0]) if matches else None


async def suggest_titles(store: KijiStore, value: str) -> list[tuple[int, str]]:
    """Up to five (id, title) pairs that look like `value`, best first."""
    titles = await store.titles()
    found = process.extract(
        normalize_key(value),
        {post_id: title for post_id, title in titles},
        scorer=fuzz.WRatio,
        processor=normalize_key,
        limit=SUGGESTIONS,
        score_cutoff=_FUZZY_CUTOFF,
    )
    return [(post_id, title) for title, _, post_id in found]


async def suggest_tags(store: KijiStore, value: str) -> list[str]:
    """Up to five tag names that look like `value`, best first."""
    names = [tag.name for tag in await store.tags()]
    found = process.extract(
        normalize_key(value),
        names,
        scorer=fuzz.WRatio,
        processor=normalize_key,
        limit=SUGGESTIONS,
        score_cutoff=_FUZZY_CUTOFF,
    )
    return [name for name, _, _ in found]


async def title_choices(store: KijiStore, typed: str, source_id: int | None = None) -> list[tuple[str, str]]:
    """(name, value) autocomplete choices for posts (of one blog, if given): newest matching titles, cut to 100."""
    if typed.strip():
        rows = await store.search_titles(typed, limits.CHOICES, source_id=source_id)
    else:
        rows = await store.latest_titles(limits.CHOICES, source_id=source_id)
    return [
        (limits.cut(await _choice_name(store, post_id, title), limits.CHOICE_NAME), str(post_id))
        for post_id, title in rows
    ]


async def _choice_name(store: KijiStore, post_id: int, title: str) -> str:
    """The title, or for an untitled post its slug (or path): Discord rejects an empty choice name."""
    name = " ".join(title.split())
    if name:
        return name
    post = await store.get_post(post_id)
    return (post.slug.strip() or post.path) if post is not None else str(post_id)


async def tag_choices(store: KijiStore, typed: str, source_id: int | None = None) -> list[tuple[str, str]]:
    """(name, value) autocomplete choices for tags containing `typed` (in one blog, if given), most used first."""
    key = normalize_key(typed)
    tags = [tag for tag in await store.tags(source_id=source_id) if key in tag.key]
    return [
        (limits.cut(f"{tag.name} ({tag.count})", limits.CHOICE_NAME), limits.cut(tag.name, limits.CHOICE_VALUE))
        for tag in tags[: limits.CHOICES]
    ]


def gist(post: Post) -> str:
    """A one-line teaser for list entries: the description unless it only restates the title."""
    for candidate in (post.description, post.excerpt):
        if candidate and normalize_key(candidate).rstrip(".…") != normalize_key(post.title):
            return limits.one_line(candidate)
    return ""
