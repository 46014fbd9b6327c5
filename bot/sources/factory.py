"""From a parsed SPEC to the Source that follows it: one place that knows every kind of source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.sources.base import Source
from bot.sources.folder import FolderSource
from bot.sources.git import GitSource
from bot.sources.specs import FolderSpec, GitSpec, Spec


def source_from_spec(spec: Spec, data_dir: Path | str, *, clock: Callable[[], float] | None = None) -> Source:
    """The Source for `spec`; git clones live under `data_dir` (KIJI_DATA_DIR)."""
    if isinstance(spec, GitSpec):
        return GitSource(spec, data_dir) if clock is None else GitSource(spec, data_dir, clock=clock)
    if isinstance(spec, FolderSpec):
        return FolderSource(spec.path, name=spec.name)
    raise TypeError(f"no source for {spec!r}")
