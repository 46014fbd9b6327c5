"""Where a store lives, read from `KIJI_DATABASE_URL` (or a plain path), and how to name it safely.

`sqlite:///data/kiji.sqlite3` (relative) and `sqlite:////srv/kiji.sqlite3` (absolute) name a
SQLite file, as SQLAlchemy spells them; a value without a scheme is a file path, as
`KIJI_DB_PATH` always was. `postgresql://user:password@host:port/database` (or `postgres://`)
names a PostgreSQL database. The password is part of the URL a store is opened with, and of no
text meant for people: `display` is what logs, errors and /about show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.store.errors import StoreError

SQLITE_SCHEME = "sqlite"
POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class StoreLocation:
    """A parsed store URL: `kind` is "sqlite" (with `path`) or "postgresql" (with `url`)."""

    kind: str
    path: Path | None = None
    url: str = field(default="", repr=False)  # may hold a password: never shown

    @property
    def display(self) -> str:
        """The location as people may see it: a file path, or the URL with its password left out."""
        if self.path is not None:
            return str(self.path)
        return redact(self.url)

    def __str__(self) -> str:
        return self.display


def parse_location(value: str | Path) -> StoreLocation:
    """The store named by `value` (a URL or a file path); a StoreError names what is wrong, without secrets."""
    if isinstance(value, Path):
        return StoreLocation(SQLITE_SCHEME, path=value.expanduser())
    text = value.strip()
    if "://" not in text:
        if not text:
            raise StoreError("the database location is empty; set KIJI_DATABASE_URL or KIJI_DB_PATH")
        return StoreLocation(SQLITE_SCHEME, path=Path(text).expanduser())
    scheme = text.split("://", 1)[0].lower()
    if scheme == SQLITE_SCHEME:
        rest = text.split("://", 1)[1]
        if not rest.startswith("/") or rest == "/":
            raise StoreError(
                f"{text!r} names no file: write sqlite:///relative/path.sqlite3 or sqlite:////absolute/path.sqlite3"
            )
        return StoreLocation(SQLITE_SCHEME, path=Path(rest[1:]).expanduser())
    if scheme.split("+", 1)[0] in POSTGRES_SCHEMES:
        if "+" in scheme:
            raise StoreError(f"{redact(text)!r}: Kiji talks to PostgreSQL through asyncpg itself; write postgresql://…")
        return StoreLocation(POSTGRES_SCHEMES[0], url=text)
    raise StoreError(
        f"the database URL {redact(text)!r} has the scheme {scheme!r}; Kiji knows sqlite:///PATH and"
        " postgresql://USER:PASSWORD@HOST/DATABASE"
    )


def redact(url: str) -> str:
    """`url` with any password (and any `password=` query value) replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unreadable database URL>"
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    query = "&".join(
        f"{key}=***" if key.lower() in ("password", "passfile", "sslpassword") else piece
        for piece in parts.query.split("&")
        if piece
        for key in [piece.split("=", 1)[0]]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
