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
from bot.settings import DEFAULT_ENV_FILE, Settings
from bot.sources.base import Source
from bot.sources.factory import sources_from_specs
from bot.sources.folder import FolderSource
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
    ones rather than adding to them: the flags say what this run reads. `--db` is a setting like
    KIJI_DB_PATH, so what is kept beside the database (git checkouts) follows it.
    """
    env_file = DEFAULT_ENV_FILE
    if getattr(args, "env_file", None):
        env_file = Path(args.env_file).expanduser()
        if not env_file.is_file():
            raise CommandFailed(
                f"the settings file {env_file} does not exist{'' if not env_file.is_dir() else ' (it is a folder)'}; "
                "give the path of a .env file (copy .env.example)"
            )
    db: dict[str, str] = {}
    if given_db := getattr(args, "db", None):  # a file path, or a sqlite:// or postgresql:// URL
        given_is_url = "://" in given_db
        db = {"KIJI_DATABASE_URL": given_db} if given_is_url else {"KIJI_DB_PATH": str(Path(given_db).expanduser())}
        db.setdefault("KIJI_DATABASE_URL", "")  # a file given on the command line wins over a configured URL
    if getattr(args, "shard_count", None) is not None:
        db["KIJI_SHARD_COUNT"] = str(args.shard_count)
    if getattr(args, "shard_ids", None) is not None:
        db["KIJI_SHARD_IDS"] = args.shard_ids
    settings = Settings.from_env(dotenv_path=env_file, overrides=db)
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
        overrides["sources_named"] = True
    if overrides:
        settings = replace(settings, **overrides)
    return settings


def configured_sources(settings: Settings) -> list[Source]:
    """The configured sources, each local folder called what the user named it as (site or posts folder)."""
    try:
        sources = sources_from_specs(
            settings.source_specs,
            settings.data_dir,
            fetch_rate=settings.fetch_rate,
            user_agent_url=settings.user_agent_url,
        )
    except SpecError as exc:
        raise CommandFailed(f"{exc} (KIJI_SOURCES or --source)") from exc
    for source in sources:
        if isinstance(source, FolderSource) and source.site_root == settings.site_dir:
            source.what = "site folder"
        elif isinstance(source, FolderSource) and settings.site_dir is None and source.site_root == settings.posts_dir:
            source.what = "posts folder"
    return sources


async def with_stored_sources(settings: Settings) -> Settings:
    """`settings`, serving the blogs its store records when no blog is named (the example stands in).

    `kiji ingest --site S --db k.db` makes a store of S; a later `kiji ingest --db k.db`,
    `kiji sources --db k.db` or `kiji run --db k.db` means that store's blogs, not the example
    post, which never joins a store that has others. A new or empty store still gets the example.
    """
    if settings.sources_named or not settings.db_path.is_file():
        return settings
    async with opened_store(settings) as store:
        stored = await store.sources()
    # A folder is stored by its resolved path; a git source by its SPEC without credentials
    # (a token in the URL is configured, never stored: configure the source to use one).
    specs = tuple(
        dict.fromkeys(blog.display if blog.display.startswith("git+") else blog.name for blog in stored if blog.name)
    )
    return replace(settings, sources=specs, sources_named=True) if specs else settings


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
