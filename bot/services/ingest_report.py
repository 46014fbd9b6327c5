"""What an ingest reports, and the version of what it derives: shared by the Jekyll and the article ingest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

# Bump when cleaning or search tokenising changes what they make from the same file: the
# next ingest re-derives every post stored by another version, changed on disk or not.
# 5: the later drafts behind an unclosed prompt label are kept (issue 21 point 19);
# 4: phrase-search junction marks in the index, near-copies keep their new sentences (issue 13);
# 3: footer blocks dropped as blocks, article after them kept; 2: list items, $ prices…
DERIVED_VERSION = "5"


@dataclass(frozen=True, slots=True)
class FailedPost:
    path: str
    error: str


@dataclass
class IngestReport:
    """What an ingest did; a web source's report also names its blog (a Jekyll site's name is its config's)."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[FailedPost] = field(default_factory=list)
    seconds: float = 0.0
    blog_title: str | None = None
    blog_url: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": [{"path": f.path, "error": f.error} for f in self.failed],
            "seconds": round(self.seconds, 3),
        }

    def summary_line(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.failed)} failed in {self.seconds:.2f}s"
        )


ProgressCallback = Callable[[int, int], None]


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
