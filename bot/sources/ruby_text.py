"""Ruby's idea of whitespace, case and `to_s`, which Jekyll's output depends on.

Python's own `str.split`, `lower` and `str()` differ in ways a reader sees: a full-width
space (U+3000) inside a Japanese tag must not split it, `True` prints as `true` in Liquid,
and Ruby has no Greek final-sigma rule.
"""

from __future__ import annotations

import re
from typing import Any

# Ruby's \s and String#split are ASCII-only.
RUBY_WS = " \t\n\v\f\r"
RUBY_SPLIT = re.compile(r"[ \t\n\v\f\r]+")


def ruby_str(value: Any) -> str:
    """Render a scalar as Ruby's to_s would, since Liquid prints YAML values that way."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def ruby_lower(text: str) -> str:
    """Ruby's String#downcase: Python's lower() but without the Greek final-sigma rule (Σ is always σ)."""
    if "Σ" not in text:
        return text.lower()
    return "σ".join(part.lower() for part in text.split("Σ"))


def ruby_capitalize(text: str) -> str:
    """Ruby's String#capitalize: the first character title-cased, the rest downcased as Ruby does."""
    return text[:1].capitalize() + ruby_lower(text[1:])
