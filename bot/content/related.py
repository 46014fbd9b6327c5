"""Related posts: shared tags for what a post is about, shared wording for how close it is.

Candidates come from the store (posts sharing a tag or category). Each is scored by tag
overlap plus character-trigram similarity of the opening text; near-duplicates — another
version of the same article, as this blog has — are dropped, since "related" that is the
same article again helps nobody.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.content.sentence_rules import char_ngrams, jaccard
from bot.content.textnorm import normalize_key
from bot.models import Post

NEAR_DUPLICATE = 0.6
_OPENING_CHARS = 3000


def shingles(text: str) -> set[str]:
    """Character trigrams of the opening: enough to tell a second version of an article."""
    return char_ngrams(text[:_OPENING_CHARS])


def rank_related(
    post: Post, text: str, candidates: Sequence[Post], texts: dict[int, str], limit: int = 5
) -> list[Post]:
    """Up to `limit` candidates most related to `post`, never itself or a near-duplicate."""
    mine = shingles(text)
    my_tags = {normalize_key(t) for t in (*post.tags, *post.categories)}
    my_title = normalize_key(post.title)
    scored: list[tuple[float, float, Post]] = []
    for other in candidates:
        if other.id == post.id or normalize_key(other.title) == my_title:
            continue
        similarity = jaccard(mine, shingles(texts.get(other.id, "")))
        if similarity >= NEAR_DUPLICATE:
            continue
        tags = {normalize_key(t) for t in (*other.tags, *other.categories)}
        tag_overlap = len(my_tags & tags) / len(my_tags | tags) if my_tags | tags else 0.0
        scored.append((tag_overlap + 2 * similarity, other.date_utc, other))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [other for _, _, other in scored[:limit]]
