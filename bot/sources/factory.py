"""From a SPEC a person wrote to the Source that serves it: one branch per kind of source.

`specs.parse_spec` says what a SPEC is (and refuses what it cannot be); this module picks the
Source class for it. A new kind of source (web feeds) is one more spec type there and one more
branch here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from bot.sources.base import Source
from bot.sources.folder import FolderSource
from bot.sources.specs import FolderSpec, GitSpec, Spec, SpecError, WebSpec, parse_spec


def source_from_spec(
    spec: str | Spec,
    data_dir: Path | str,
    *,
    clock: Callable[[], float] | None = None,
    fetch_rate: float = 2.0,
    user_agent_url: str | None = None,
) -> Source:
    """The Source for one SPEC; raises SpecError naming the SPEC (credentials removed) and what is wrong.

    `data_dir` (KIJI_DATA_DIR) is where sources keep what they fetch, such as a git clone.
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if isinstance(parsed, FolderSpec):
        return FolderSource(parsed.path, name=parsed.name)
    if isinstance(parsed, GitSpec):
        from bot.sources.git import GitSource  # git's runner is loaded only for a git source

        if clock is None:
            return GitSource(parsed, Path(data_dir))
        return GitSource(parsed, Path(data_dir), clock=clock)
    if isinstance(parsed, WebSpec):
        from bot.sources.fetcher import user_agent  # the fetcher and feed parser are loaded only for a web source
        from bot.sources.web import WebSource

        return WebSource(parsed, Path(data_dir), fetch_rate=fetch_rate, user_agent=user_agent(user_agent_url))
    raise SpecError(f"{spec!r}: no kind of source reads this SPEC")  # a spec type added without its branch


def sources_from_specs(
    specs: Iterable[str], data_dir: Path, *, fetch_rate: float = 2.0, user_agent_url: str | None = None
) -> list[Source]:
    """Every configured source, in order; the same source twice is an error, not two blogs."""
    sources: list[Source] = []
    seen: dict[str, str] = {}
    for spec in specs:
        source = source_from_spec(spec, data_dir, fetch_rate=fetch_rate, user_agent_url=user_agent_url)
        if source.name in seen:
            raise SpecError(f"{source.display} is listed twice (as {seen[source.name]}); keep one")
        seen[source.name] = source.display
        sources.append(source)
    if not sources:
        raise SpecError("no source configured; set KIJI_SOURCES or KIJI_SITE_DIR / KIJI_POSTS_DIR, or pass --source")
    return sources
