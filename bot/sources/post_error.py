"""The one error a post file, or a site's `_config.yml`, is reported with.

Every reader in this package raises it instead of whatever its library raised, so ingest can
report the file with a reason a writer can act on and carry on with the other posts.
"""

from __future__ import annotations


class PostError(Exception):
    """A post (or `_config.yml`) Kiji cannot read, with the reason a writer can act on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
