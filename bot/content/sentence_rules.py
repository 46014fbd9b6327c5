"""What makes a sentence unfit for a summary, as rules the summariser and the bench share.

Residue of markup, fragments of cut sentences and restatements of the title: each is a
definition with a test, so the bench grades summaries by the same words the README uses.
"""

from __future__ import annotations

import re

from bot.content.sentences import BRACKET_RE, CLOSERS
from bot.content.textnorm import fold

# Split in two so that `re` can skip ahead on the first character instead of trying every
# branch at every position: an anchored start pattern and an unanchored one.
_RESIDUE_START_RE = re.compile(r"\s*(?:#{1,6}\s|[-*+]\s|>|\d+\.\s)")
_RESIDUE_RE = re.compile(
    r"\*\*|__|`|~~|\s#{2,6}\s|\]\(|</?[A-Za-z][^>]*>|&[a-zA-Z]+;|&#\d+;"
    r"|\{%|%\}|\{\{|\}\}|-{3,}|END-{2,}|\|[^|]*\||\\[A-Za-z]+|\$\$|https?://"
)
_TERMINAL_END_RE = re.compile(r"[。｡．！？!?.][" + re.escape(CLOSERS) + "\"']*$")
# A sentence cannot start with a particle, auxiliary, small kana or closing punctuation:
# that is the tail of a sentence cut in two ("…例えば、モデル" / "の推論コスト、…").
_FRAGMENT_START_RE = re.compile(
    r"^(?:[をがはのにへっゃゅょぁぃぅぇぉャュョァィゥェォッーん、。，．・：；:;,.!?！？"
    + re.escape(CLOSERS)
    + r"]|で(?!は|も|す|き)|と(?!は|こ|も|り|く|き|て|に)|も(?!ち|し|っ|は|う|と|の)|て|や(?!は|が|っ|や))"
)
_LOWER_WORD_START_RE = re.compile(r"^[a-z][a-z]+\b")

CONTENT_RE = re.compile(r"[\W_]+")

_TITLE_PADDING_RE = re.compile(
    r"^(?:\d{4}年(?:\d{1,2}月)?(?:最新|版)?|【[^】]*】|\[[^\]]*\])\s*|（[^）]*）|\([^)]*\)|"
    r"(?:の全貌と実践的な活用法|の最新動向と企業への影響|が変えるビジネスの未来|の注目ポイントと導入効果|"
    r"による業務効率化と競争力強化|の進化と実用化への道筋|がもたらす産業構造の転換|の技術革新がもたらす変化)$"
)


def content_chars(text: str) -> str:
    """Letters and digits only, so punctuation and spacing never decide similarity."""
    return CONTENT_RE.sub("", fold(text))


def char_ngrams(text: str, n: int = 3) -> set[str]:
    s = content_chars(text)
    if len(s) < n:
        return {s} if s else set()
    return {s[i : i + n] for i in range(len(s) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def has_residue(sentence: str) -> bool:
    """Markdown, HTML, Liquid, TeX, URL or chunk-marker syntax left in the text."""
    return bool(_RESIDUE_START_RE.match(sentence) or _RESIDUE_RE.search(sentence))


def is_fragment(sentence: str) -> bool:
    """A piece that is not a whole sentence.

    Definition (shared with the bench): after stripping, the sentence does not
    end in terminal punctuation (。．！？ . ! ? with optional closing brackets);
    or it starts with a particle, auxiliary, small kana, long-vowel mark,
    comma or closing bracket (the tail of a cut sentence); or it starts with
    an all-lowercase English word; or its brackets are unbalanced.
    """
    s = sentence.strip()
    if not s or not _TERMINAL_END_RE.search(s):
        return True
    if _FRAGMENT_START_RE.match(s) or _LOWER_WORD_START_RE.match(s):
        return True
    return _unbalanced(s)


def _unbalanced(s: str) -> bool:
    if not BRACKET_RE.search(s):
        return False
    for o, c in (("「", "」"), ("『", "』"), ("（", "）"), ("(", ")"), ("【", "】")):
        if s.count(o) != s.count(c):
            return True
    return False


def title_core(title: str) -> str:
    """The title without the SEO padding ("2026年…の全貌と実践的な活用法", "（OpenAI・Google）")."""
    core = title
    for _ in range(3):
        stripped = _TITLE_PADDING_RE.sub("", core).strip()
        if stripped == core:
            break
        core = stripped
    return core if len(content_chars(core)) >= 6 else title


def repeats_title(sentence: str, title: str, threshold: float = 0.5) -> bool:
    """Whether a sentence restates the title.

    True when at least `threshold` of the title's character 3-grams (of the full
    title or of its core without SEO padding) occur in the sentence, or when
    most of the sentence's own 3-grams come from the title.
    """
    if not title.strip():
        return False
    grams = char_ngrams(sentence)
    if not grams:
        return False
    for t in {title, title_core(title)}:
        tg = char_ngrams(t)
        if not tg:
            continue
        shared = len(grams & tg)
        if shared / len(tg) >= threshold or shared / len(grams) >= 0.6:
            return True
    return False
