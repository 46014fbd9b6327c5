"""What every `kiji` command shares: exit statuses, the error that ends a command, output and the store.

Exit status: 0 on success, 1 for an unknown post or tag, 2 when nothing could be done, 75 when
Discord could not be reached or failed (trying again later may work).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.models import Post
from bot.settings import Settings
from bot.sources.base import Source
from bot.sources.factory import sources_from_specs
from bot.sources.specs import SpecError
from bot.store import KijiStore, StoreError, open_store

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_UNUSABLE = 2
EXIT_TEMPORARY = 75  # sysexits' EX_TEMPFAIL: Discord unreachable or failing; trying again later may work


class CommandFailed(Exception):
    """Ends a command with a message for the user and an exit status."""

    def __init__(self, message: str, status: int = EXIT_UNUSABLE) -> None:
        super().__init__(message)
        self.status = status


def print_json(value: object, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False) + "\n")


def count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def text_argument(value: str, what: str) -> str:
    """`value` if it is text the store can hold; a name in another encoding arrives with surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise CommandFailed(
            f"the {what} {shown!r} is not valid UTF-8: Kiji stores posts, tags and queries as UTF-8 text",
            EXIT_NOT_FOUND,
        ) from None
    return value


def post_line(post: Post) -> str:
    tags = ", ".join(post.tags)
    return f"{post.id:>6}  {post.date_iso[:10]}  {post.title}  [{tags}]\n         {post.abs_url}"


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The environment's settings, with the command line's flags winning.

    Sources given on the command line (`--source`, `--posts`, `--site`) replace the configured
    ones rather than adding to them: the flags say what this run reads.
    """
    settings = Settings.from_env()
    overrides: dict[str, object] = {}
    given: list[str] = list(getattr(args, "source", None) or [])
    if getattr(args, "posts", None):
        overrides["posts_dir"] = Path(args.posts).expanduser()
        overrides["site_dir"] = None
        given.append(args.posts)
    if getattr(args, "site", None):
        overrides["site_dir"] = Path(args.site).expanduser()
        given.append(args.site)
    if given:
        only_a_folder = len(given) == 1 and not getattr(args, "source", None)
        overrides["sources"] = () if only_a_folder else tuple(given)
    if getattr(args, "db", None):  # a file path, or a sqlite:// or postgresql:// URL
        if "://" in args.db:
            overrides["database_url"] = args.db
        else:
            overrides["db_path"], overrides["database_url"] = Path(args.db).expanduser(), None
    if overrides:
        settings = replace(settings, **overrides)
    return settings


def configured_sources(settings: Settings) -> list[Source]:
    try:
        return sources_from_specs(
            settings.source_specs,
            settings.data_dir,
            fetch_rate=settings.fetch_rate,
            user_agent_url=settings.user_agent_url,
        )
    except SpecError as exc:
        raise CommandFailed(f"{exc} (KIJI_SOURCES or --source)") from exc


@contextlib.asynccontextmanager
async def opened_store(settings: Settings, create: bool = False) -> AsyncIterator[KijiStore]:
    """The store; only `kiji ingest` may create it, so a mistyped path is an error, not an empty answer."""
    try:
        store = await open_store(settings.store_url, create=create)
    except StoreError as exc:
        raise CommandFailed(f"{exc} (set KIJI_DATABASE_URL or KIJI_DB_PATH, or pass --db)") from exc
    try:
        yield store
    finally:
        await store.close()
