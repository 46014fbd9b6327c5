"""Whether a post's description is an abstract its author wrote, or a copy of its opening.

On this blog most front-matter descriptions are the first ~150 characters of the body (title
line + lead, ending in "..."); about one in eight is an abstract written for the post. The
split is bimodal: a copy shares nearly all its character 5-grams with the opening, an abstract
well under 80 %. An abstract is the author's own summary, so `/summary` shows it (labelled as
the author's) and the bench measures Kiji's summaries against it; a copied opening would only
reward copying the opening. One definition serves both, the one `../shared/summary-dev/`
documents.
"""

from __future__ import annotations

import re

from bot.content.sentence_cues import is_pipeline_chatter
from bot.content.sentence_rules import content_chars, has_residue

ABSTRACT_MAX_CONTAINMENT = 0.8  # below this share of 5-grams found in the opening: an abstract
OPENING_CHARS = 4000  # of the normalised body (and title) searched for the description's 5-grams
_GRAM = 5
_TRAILING_ELLIPSIS_RE = re.compile(r"(?:\.\.\.|…)+\s*$")


def description_text(description: str | None) -> str:
    """The description as a reader should see it: stripped, without the "..." of a cut copy."""
    return _TRAILING_ELLIPSIS_RE.sub("", (description or "").strip()).strip()


def is_abstract(description: str | None, body: str, title: str = "") -> bool:
    """Fewer than 80 % of the description's character 5-grams occur in the title and the body's opening.

    Compared after NFKC, casefolding and dropping whitespace, punctuation and symbols, so
    Markdown in the body or a full-width comma in the description decides nothing. The title
    is searched too: some copies are "title + opening", and the cleaned body has no title line.
    A description too short to have a 5-gram is no abstract.
    """
    desc = content_chars(description_text(description))
    grams = {desc[i : i + _GRAM] for i in range(len(desc) - _GRAM + 1)}
    if not grams:
        return False
    haystack = content_chars(title) + content_chars(body)[:OPENING_CHARS]
    found = sum(1 for g in grams if g in haystack)
    return found / len(grams) < ABSTRACT_MAX_CONTAINMENT


def author_abstract(description: str | None, body: str, title: str = "") -> str | None:
    """The author's own summary of the post: its description when that is an abstract, else None.

    Not one that is the generator talking about its output ("The article has been generated…")
    or carries markup: that is no summary, whoever wrote it.
    """
    if not is_abstract(description, body, title):
        return None
    text = description_text(description)
    if is_pipeline_chatter(text) or has_residue(text):
        return None
    return text
