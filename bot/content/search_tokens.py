"""Tokenisation for the full-text index, shared by indexing and querying.

SQLite's trigram tokenizer cannot match queries shorter than three characters, and
"AI" or "推論" are exactly what readers of a Japanese AI blog type. So Kiji tokenises
in Python and hands FTS5 (unicode61) plain space-separated tokens:

* CJK runs become overlapping character bigrams (plus the run's last character, so a
  one-character query still has something to hit). Any substring of two or more
  characters is then a phrase of consecutive bigrams.
* Other letters and digits become whole lower-cased words; a query word matches them as
  a prefix ("rag" finds "RAG" and "RAGs", never "storage").

Queries are rebuilt from these tokens, each one double-quoted, so nothing a user types
can become FTS5 query syntax.
"""

from __future__ import annotations

import operator
import re

from bot.content.textnorm import fold

# Han, Hiragana, Katakana (incl. the prolonged sound mark), Hangul and CJK symbols that
# carry meaning inside words. Everything else that is a letter or digit is "word" script.
_CJK_CLASS = (
    "\u3005\u3007\u3021-\u3029\u3038-\u303c"  # 々 〇 and Suzhou numerals
    # Hiragana and Katakana without the marks FTS5's unicode61 splits tokens at (it keeps only
    # letters and digits): combining and spacing (semi-)voiced marks, ゠ and ・. Left in, a
    # lone "・" became an empty phrase that matched nothing, so "AI・IoT" found no post.
    "\u3040-\u3098\u309d-\u309f"  # Hiragana
    "\u30a1-\u30fa\u30fc-\u30ff"  # Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"  # Hangul
    "\U00020000-\U0002fa1f"  # CJK extensions
)
_TOKEN_RUN = re.compile(rf"(?P<cjk>[{_CJK_CLASS}]+)|(?P<word>[^\W_{_CJK_CLASS}]+)")


def index_tokens(text: str) -> str:
    """The space-separated token stream stored in the FTS table for `text`."""
    # findall, not finditer + lastgroup: one C call for all runs, each a (cjk, word) pair
    # with one side empty. Bigrams are built in C by map().
    tokens: list[str] = []
    extend, append = tokens.extend, tokens.append
    for cjk, word in _TOKEN_RUN.findall(fold(text)):
        if cjk:
            extend(map(operator.add, cjk, cjk[1:]))
            append(cjk[-1])  # the run's last character, for one-character queries
        else:
            append(word)
    return " ".join(tokens)


def _quote(token: str) -> str:
    # Tokens are letters/digits only, so they never contain a double quote; quoting
    # still matters because a bare token such as "and" or "near" is FTS5 syntax.
    return f'"{token}"'


def _chunk_phrases(chunk: str) -> list[str]:
    """FTS5 phrases for one whitespace-separated piece of the user's query.

    Consecutive word tokens form one phrase whose last token is a prefix; each CJK run
    becomes a phrase of its bigrams. Script changes start a new phrase because the
    index puts a run-final character between a CJK run and the next word.
    """
    phrases: list[str] = []
    words: list[str] = []

    def flush_words() -> None:
        if words:
            phrases.append(_quote(" ".join(words[:MAX_PHRASE_TOKENS])) + "*")
            words.clear()

    for match in _TOKEN_RUN.finditer(chunk):
        cjk = match.group("cjk")
        if cjk is None:
            words.append(match.group("word"))
            continue
        flush_words()
        if len(cjk) == 1:
            phrases.append(_quote(cjk) + "*")
        else:
            bigrams = min(len(cjk) - 1, MAX_PHRASE_TOKENS)
            phrases.append(_quote(" ".join(cjk[i : i + 2] for i in range(bigrams))))
    flush_words()
    return phrases


# What one query may ask of the index, whatever its length: FTS5's work grows with every
# phrase (a doclist merge each) and, for a one-character CJK prefix, with every bigram that
# starts with it ("の"* expands to thousands of tokens). 16 distinct phrases say more than
# anyone types into /search; a phrase keeps its first 32 tokens, which already pin it down.
MAX_QUERY_PHRASES = 16
MAX_PHRASE_TOKENS = 32
# One-character words ("の", "は", "車", "a") cost the most and narrow the least: the first
# this many distinct ones count, the others are left out like stop-words.
MAX_SINGLE_CHARACTER = 2


def _bounded_phrases(query: str) -> list[str]:
    """The query's distinct phrases, in the order typed, within the bounds above."""
    phrases: dict[str, None] = {}  # an insertion-ordered set: repeats ask nothing new
    one_character = 0
    for chunk in fold(query).split():
        for phrase in _chunk_phrases(chunk):
            if phrase in phrases:
                continue
            if _is_one_character(phrase):
                if one_character >= MAX_SINGLE_CHARACTER:
                    continue
                one_character += 1
            phrases[phrase] = None
            if len(phrases) >= MAX_QUERY_PHRASES:
                return list(phrases)  # the rest of a 20,000-word query cannot change the expression
    return list(phrases)


def _is_one_character(phrase: str) -> bool:
    """A quoted one-character prefix ("の"*, "a"*): it expands to every token starting with it."""
    return len(phrase) == 4 and phrase.endswith('"*')


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression requiring every part of `query`, or None if it has no terms.

    Bounded: repeated terms count once, at most MAX_QUERY_PHRASES phrases of at most
    MAX_PHRASE_TOKENS tokens, and at most MAX_SINGLE_CHARACTER one-character words (the first typed).
    """
    phrases = _bounded_phrases(query)
    if not phrases:
        return None
    return " AND ".join(phrases)


def query_terms(query: str) -> list[str]:
    """The normalised pieces of a query, longest first, for highlighting snippets (as many as a query may have)."""
    terms = {m.group(0) for m in _TOKEN_RUN.finditer(fold(query))}
    return sorted(terms, key=len, reverse=True)[:MAX_QUERY_PHRASES]
