"""The one front-matter reader: the YAML block at the top of a post, bounded and typed as Jekyll reads it.

Jekyll finds the block with its YAML_FRONT_MATTER_REGEXP and reads it with Psych; this module
does both with PyYAML's safe loader (libyaml's when installed), so every reader of post files in
Kiji (ingest, `kiji summarize FILE`) agrees on where the front matter ends and what it says.

YAML aliases are the one way a few hundred bytes can describe billions of values ("billion
laughs"): the loader counts what the aliases expand to before building anything, and refuses a
document whose expansion passes a small budget, so a hostile post costs microseconds, not gigabytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from bot.sources.post_error import PostError
from bot.sources.ruby_text import RUBY_WS

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Values that aliases may add beyond the document's own nodes. Real front matter reuses an
# anchor or two (a shared list of tags); nine levels of nine aliases would add 387 million.
ALIAS_EXPANSION_BUDGET = 10_000


class BadTimestamp(str):
    """A YAML timestamp naming a day that does not exist; only fatal as `date`."""


class AliasBombError(yaml.YAMLError):
    """The aliases of a document expand to more values than anyone writes by hand."""


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes `root` stands for once every alias is expanded, stopping past `limit`.

    The composer shares one node object per anchor, so a memo by identity keeps this linear in
    the document's size; a node met again while its own children are being counted is an alias
    inside itself, which expands to infinity.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise AliasBombError("an alias refers to the value that contains it")
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node) + size(value_node)
                if total > limit:
                    break
        in_progress.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _distinct_nodes(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for pair in node.value:
                stack.extend(pair)
    return len(seen)


class BoundedLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, with a timestamp that may name an impossible day and bounded aliases."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        limit = _distinct_nodes(node) + ALIAS_EXPANSION_BUDGET
        if _expanded_size(node, limit) > limit:
            raise AliasBombError(
                f"its aliases (*name) expand to more than {ALIAS_EXPANSION_BUDGET:,} values; "
                "write the values out instead of nesting aliases"
            )
        return self.construct_document(node)


def _construct_timestamp(loader: Any, node: Any) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError, AttributeError):  # AttributeError: `!!timestamp` on a non-date
        return BadTimestamp(node.value)


BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def load_yaml(text: str, path: str, what: str) -> Any:
    """YAML as Jekyll reads it; any problem (syntax, alias bomb, nesting) becomes a PostError."""
    try:
        return yaml.load(text, Loader=BoundedLoader)  # a SafeLoader subclass
    except AliasBombError as exc:
        raise PostError(path, f"{what} refused: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "unparseable"
        raise PostError(path, f"invalid YAML in {what}{where}: {problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise PostError(path, f"invalid YAML in {what}: {exc}") from None


def split_front_matter(text: str) -> tuple[str, str] | None:
    """(front matter with its opening line, body), or None when there is no closed block.

    Jekyll's YAML_FRONT_MATTER_REGEXP, by hand so a 5 MiB file cannot backtrack.
    """
    first_nl = text.find("\n")
    if first_nl < 0 or not text.startswith("---") or text[3:first_nl].strip(RUBY_WS):
        return None
    pos = first_nl + 1
    length = len(text)
    while pos <= length:
        end = text.find("\n", pos)
        line = text[pos:] if end < 0 else text[pos:end]
        if line[:3] in ("---", "...") and not line[3:].strip(RUBY_WS):
            # Ruby's greedy `\s*$\n?` also swallows blank lines after the closing marker.
            after = pos + 3
            stop = after
            while stop < length and text[stop] in RUBY_WS:
                stop += 1
            last_nl = text.rfind("\n", after, stop)
            body_start = stop if stop == length else last_nl + 1
            return text[:pos], text[body_start:]
        if end < 0:
            return None
        pos = end + 1
    return None


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """A post's front matter (keys to YAML values) and the body after it."""

    data: Mapping[str, Any]
    body: str


def read_front_matter(text: str, path: str) -> FrontMatter:
    """The front matter and body of a post's text; raises PostError naming `path` and the problem.

    A post must open with a `---` line and close the block with `---` (or `...`); an empty block
    is an empty mapping. Line endings of the body are left as they are.
    """
    split = split_front_matter(text)
    if split is None:
        raise PostError(path, "no front matter: a post must start with a '---' line and a closing '---' line")
    return front_matter_of(*split, path)


def front_matter_of(yaml_text: str, body: str, path: str) -> FrontMatter:
    """The mapping of an already split front-matter block: for callers that accept a text without one."""
    loaded = load_yaml(yaml_text, path, "front matter")
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise PostError(path, f"front matter must be a mapping of keys to values, not a {type(loaded).__name__}")
    return FrontMatter(loaded, body)
