"""What Kiji derives from an article's title and Markdown body: its cleaned text and search tokens.

A web post's derivation is done in the worker that extracted its page, so that the article's
text crosses between processes once (the page out, the article and this back) instead of going
back to a worker a second time to be cleaned. It is what `clean_body` and the tokeniser make of
the same title and body wherever they run: a web post's derivation and its Markdown twin's go
through one cleaner.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.content import search_tokens
from bot.content.cleaning import clean_body, reading_time_minutes


@dataclass(frozen=True, slots=True)
class DerivedText:
    """The cleaned text, its outline, reading time and search tokens of one title and body.

    `title` and `body` are what it was derived from: a user checks `derives(title, body)` before
    taking it for an article, which might have been changed since (a feed entry enriched by its page).
    """

    title: str
    body: str
    text: str
    outline: str
    reading_time: int
    title_tokens: str
    body_tokens: str

    def derives(self, title: str, body: str) -> bool:
        return self.title == title and self.body == body


def derive_text(title: str, body: str) -> DerivedText:
    """Clean `body` (Markdown, titled `title`) and tokenise it as Kiji stores a post."""
    cleaned = clean_body(body, title)
    text = cleaned.text
    return DerivedText(
        title=title,
        body=body,
        text=text,
        outline=cleaned.outline,
        reading_time=reading_time_minutes(text),
        title_tokens=search_tokens.index_tokens(title),
        body_tokens=search_tokens.index_tokens(cleaned.search_text),
    )
