"""Tokenisation for the full-text index, shared by indexing and querying.

SQLite's trigram tokenizer cannot match queries shorter than three characters, and
"AI" or "推論" are exactly what readers of a Japanese AI blog type. So Kiji tokenises
in Python and hands FTS5 plain space-separated tokens (its ascii tokenizer splits them at
the spaces and changes nothing else):

* CJK runs become overlapping character bigrams (plus the run's last character, so a
  one-character query still has something to hit). Any substring of two or more
  characters is then a phrase of consecutive bigrams.
* Other letters and digits become whole lower-cased words; a query word matches them as
  a prefix ("rag" finds "RAG" and "RAGs", never "storage").
* Where two runs meet without whitespace, a mark records how (see GLUE), so a query piece
  without spaces ("生成AI", "GPT-5") is one phrase matching exactly the texts that contain it.

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
    # Hiragana and Katakana without the marks that are not letters (FTS5's unicode61, which the
    # index used before, split tokens at them): combining and spacing (semi-)voiced marks, ゠
    # and ・. Left in, a lone "・" became an empty phrase that matched nothing, so "AI・IoT"
    # found no post.
    "\u3040-\u3098\u309d-\u309f"  # Hiragana
    "\u30a1-\u30fa\u30fc-\u30ff"  # Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"  # Hangul
    "\U00020000-\U0002fa1f"  # CJK extensions
)
_TOKEN_RUN = re.compile(rf"(?P<cjk>[{_CJK_CLASS}]+)|(?P<word>[^\W_{_CJK_CLASS}]+)")


# Where two runs meet without whitespace, the index records how: a glue mark when they touch
# ("生成AI"), else the separator itself ("GPT-5", "AI・IoT"), spelled in private-use characters
# (token characters to FTS5, and never part of a run). A query without spaces is
# then one phrase that matches exactly the texts containing it: "生成AI" no longer matches
# "生成 AI" or a post with 生成 and AI far apart, and "GPT-5" not "GPT 5". Junctions holding
# whitespace get no mark: a query piece never contains whitespace, so it needs none.
GLUE = "\U000f0000"
_SPACE = re.compile(r"\s")


class _SeparatorMarks(dict[int, str]):
    """str.translate table: each character to a private-use one (BMP into plane 15, others into 16)."""

    def __missing__(self, code: int) -> str:
        plane = 0xF0000 if code < 0x10000 else 0x100000
        mark = chr(plane + min(code & 0xFFFF, 0xFFFD))
        self[code] = mark
        return mark


_MARKS = _SeparatorMarks()


def _junction(separator: str) -> str | None:
    """The token between two runs, or None when whitespace separates them."""
    if not separator:
        return GLUE
    if _SPACE.search(separator):
        return None
    return separator.translate(_MARKS)


def index_tokens(text: str) -> str:
    """The space-separated token stream stored in the FTS table for `text`."""
    return _index_tokens_folded(fold(text))


def _index_tokens_python(folded: str) -> str:
    """`index_tokens` of already folded text, in Python: the reference the compiled one must equal."""
    # split() with the two run groups: [separator, cjk, word, separator, cjk, word, ..., separator]
    # in one C call, one side of each (cjk, word) pair None. Bigrams are built in C by map().
    parts = _TOKEN_RUN.split(folded)
    tokens: list[str] = []
    extend, append = tokens.extend, tokens.append
    for at in range(1, len(parts), 3):
        if at > 1:
            separator = parts[at - 1]
            if not separator:
                append(GLUE)
            elif not _SPACE.search(separator):
                append(separator.translate(_MARKS))
        cjk = parts[at]
        if cjk:
            extend(map(operator.add, cjk, cjk[1:]))
            append(cjk[-1])  # the run's last character, for one-character queries
        else:
            append(parts[at + 1])
    return " ".join(tokens)


try:  # built by `make` (setup.py): the same tokens in one pass, ~5× faster; tests prove them equal
    from bot.content._search_tokens_c import index_tokens_folded as _index_tokens_folded
except ImportError:  # no compiler or no Python headers where Kiji was installed
    _index_tokens_folded = _index_tokens_python

NATIVE = _index_tokens_folded is not _index_tokens_python


def _quote(token: str) -> str:
    # Tokens are letters/digits only, so they never contain a double quote; quoting
    # still matters because a bare token such as "and" or "near" is FTS5 syntax.
    return f'"{token}"'


def _phrase(text: str) -> str | None:
    """The FTS5 phrase matching every indexed text that contains `text` (folded) where a word may start.

    The tokens `index_tokens` makes of `text`, except that a CJK run the text ends with gets no
    run-final character (the post may go on in CJK), and the last token is a prefix when it
    is a word or one CJK character ("rag" finds "RAGs", never "storage"). Separators before
    the first run and after the last are left out. A phrase keeps its first MAX_PHRASE_TOKENS
    tokens, which already pin it down.
    """
    parts = _TOKEN_RUN.split(text)
    runs = len(parts) // 3
    if not runs:
        return None
    tokens: list[str] = []
    prefix = False
    for index, at in enumerate(range(1, len(parts), 3)):
        if index:
            junction = _junction(parts[at - 1])
            if junction is not None:
                tokens.append(junction)
        cjk = parts[at]
        last = index == runs - 1
        if cjk is None:
            tokens.append(parts[at + 1])
            prefix = last
        elif len(cjk) == 1:
            tokens.append(cjk)
            prefix = last
        else:
            tokens.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
            if not last:
                tokens.append(cjk[-1])
            prefix = False
        if len(tokens) > MAX_PHRASE_TOKENS:
            return _quote(" ".join(tokens[:MAX_PHRASE_TOKENS]))
    return _quote(" ".join(tokens)) + ("*" if prefix else "")


# What one query may ask of the index, whatever its length: FTS5's work grows with every
# phrase (a doclist merge each) and, for a one-character CJK prefix, with every bigram that
# starts with it ("の"* expands to thousands of tokens). 16 distinct phrases say more than
# anyone types into /search; a phrase keeps its first 32 tokens, which already pin it down.
MAX_QUERY_PHRASES = 16
MAX_PHRASE_TOKENS = 32
# One-character words ("の", "は", "車", "a") cost the most and narrow the least: the first
# this many distinct ones count, the others are left out like stop-words.
MAX_SINGLE_CHARACTER = 2


def _bounded_pieces(query: str) -> dict[str, str]:
    """The distinct whitespace-separated pieces of `query` and their phrases, in order, within the bounds."""
    pieces: dict[str, str] = {}  # piece -> phrase, insertion-ordered: repeats ask nothing new
    seen: set[str] = set()
    one_character = 0
    for piece in fold(query).split():
        phrase = _phrase(piece)
        if phrase is None or phrase in seen:
            continue
        if _is_one_character(phrase):
            if one_character >= MAX_SINGLE_CHARACTER:
                continue
            one_character += 1
        seen.add(phrase)
        pieces[piece] = phrase
        if len(pieces) >= MAX_QUERY_PHRASES:
            break  # the rest of a 20,000-word query cannot change the expression
    return pieces


def _is_one_character(phrase: str) -> bool:
    """A quoted one-character prefix ("の"*, "a"*): it expands to every token starting with it."""
    return len(phrase) == 4 and phrase.endswith('"*')


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression requiring every whitespace-separated piece of `query` as a phrase.

    None if the query has no terms. Bounded: repeated pieces count once, at most
    MAX_QUERY_PHRASES phrases of at most MAX_PHRASE_TOKENS tokens, and at most
    MAX_SINGLE_CHARACTER one-character words (the first typed).
    """
    phrases = list(_bounded_pieces(query).values())
    if not phrases:
        return None
    return " AND ".join(phrases)


def phrase_expression(query: str) -> str | None:
    """Matches the posts holding the query's pieces as one phrase, in order; None for a one-piece query.

    "生成 AI" as typed (words apart) or run together (生成AI): the posts that rank first.
    """
    pieces = list(_bounded_pieces(query))
    if len(pieces) < 2:
        return None
    spaced, joined = _phrase(" ".join(pieces)), _phrase("".join(pieces))
    return spaced if joined in (None, spaced) else f"{spaced} OR {joined}"


def query_terms(query: str) -> list[str]:
    """The normalised pieces of a query, longest first, for highlighting snippets (as many as a query may have)."""
    folded = fold(query)
    terms = {m.group(0) for m in _TOKEN_RUN.finditer(folded)}
    terms.update(_strip_separators(piece) for piece in folded.split())
    terms.discard("")
    return sorted(terms, key=len, reverse=True)[:MAX_QUERY_PHRASES]


def _strip_separators(piece: str) -> str:
    runs = list(_TOKEN_RUN.finditer(piece))
    return piece[runs[0].start() : runs[-1].end()] if runs else ""
