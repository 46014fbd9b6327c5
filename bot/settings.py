"""Settings from the environment and an optional `.env` file.

Every setting is listed and explained in `.env.example`. The Discord token is kept out of
`repr()` so it can never leak into a log line or a traceback that prints settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

from bot.sources.site_config import Site, load_site

# The example post ships with the package, so the default works from any folder (`kiji demo` anywhere).
EXAMPLE_POSTS = Path(__file__).resolve().parent / "examples" / "posts"
DEFAULT_POSTS_DIR = str(EXAMPLE_POSTS)
# What the settings called the example before it moved into the package (an older .env.example).
LEGACY_EXAMPLE_DIR = "examples/posts"
DEFAULT_DB_PATH = "data/kiji.sqlite3"
DEFAULT_ENV_FILE = Path(".env")
# Settings naming files or folders: relative ones in a settings file are relative to that file.
_PATH_SETTINGS = ("KIJI_POSTS_DIR", "KIJI_SITE_DIR", "KIJI_DB_PATH", "KIJI_DATA_DIR")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Settings:
    posts_dir: Path
    site_dir: Path | None
    db_path: Path
    site_url: str | None = None
    discord_token: str | None = field(default=None, repr=False)
    dev_guild_id: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    poll_seconds: float = 60.0
    max_burst: int = 10
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 20.0
    llm_prompt_chars: int = 6000
    # Source SPECs (folders, git+URL…); empty: the one folder of site_dir / posts_dir.
    sources: tuple[str, ...] = ()
    # Everything Kiji keeps besides the database (git checkouts): KIJI_DATA_DIR, else beside the database.
    data_dir: Path = Path("data")
    # False when no blog was named and the shipped example stands in: a store's own blogs then win
    # (`bot.cli_base.with_stored_sources`), and the example never joins a store that has others.
    sources_named: bool = True
    # The settings file looked for (read when it exists), so a message can say where Kiji looked.
    env_file: Path | None = DEFAULT_ENV_FILE
    fetch_rate: float = 2.0  # requests per second to one host, at most, for web sources
    notice_after_hours: float = 6.0  # a blog failing this long gets a notice in its channels
    user_agent_url: str | None = None  # a page about this bot, named in the User-Agent of web requests
    # KIJI_DATABASE_URL (sqlite:///PATH or postgresql://…; may hold a password, so never shown); None: db_path.
    database_url: str | None = field(default=None, repr=False)
    # Gateway shards: the total across every process (KIJI_SHARD_COUNT) and this process's (KIJI_SHARD_IDS,
    # default all of them); None: one unsharded connection.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    # KIJI_LEASE_SECONDS: with several processes on one PostgreSQL store, how long the sync lease lasts unrenewed;
    # another process takes over polling and announcing at most about this long after its holder dies.
    lease_seconds: float = 30.0
    # KIJI_INGEST_IDLE_SECONDS: renew a used ingest process after so long without work (0: never): a fresh
    # one, ready for the next ingest, holds ~12 MB less than one that ingested (bench.idle_memory).
    ingest_idle_seconds: float = 30.0

    @property
    def store_url(self) -> str:
        """Where the store is: KIJI_DATABASE_URL, else the SQLite file KIJI_DB_PATH (`bot.store.open_store`)."""
        return self.database_url or str(self.db_path)

    @property
    def source_dir(self) -> Path:
        """The folder of the one local source: the Jekyll site when given, else the plain posts folder."""
        return self.site_dir if self.site_dir is not None else self.posts_dir

    @property
    def source_specs(self) -> tuple[str, ...]:
        """Every configured source SPEC, in order: KIJI_SOURCES / --source, else the one local folder."""
        return self.sources or (str(self.source_dir),)

    def load_site(self, root: Path | None = None) -> Site:
        """The site at `root` (default: the local folder), with KIJI_SITE_URL filling in or overriding `url`.

        A plain posts folder has no `url`, and Discord needs absolute links. One address cannot be
        every blog's, so with several sources each keeps its own `_config.yml` url.
        """
        site = load_site(self.source_dir if root is None else root)
        return replace(site, url=self.site_url) if self.site_url and len(self.source_specs) == 1 else site

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        dotenv_path: Path | None = DEFAULT_ENV_FILE,
        overrides: Mapping[str, str] | None = None,
    ) -> Settings:
        """The settings of `dotenv_path`, then the environment over it, then `overrides` (the command line)."""
        values = {**configured_environ(environ, dotenv_path), **(overrides or {})}

        def text(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        site_dir = text("KIJI_SITE_DIR")
        posts_dir = text("KIJI_POSTS_DIR")
        if posts_dir is not None and is_example(posts_dir):
            posts_dir = None  # an older .env.example named it: it stays the stand-in it is
        sources = tuple((text("KIJI_SOURCES") or "").split())
        if sources and (site_dir or posts_dir):
            # the shorthand is one more local source, listed after KIJI_SOURCES
            sources += (site_dir or posts_dir or "",)
        db_path = Path(text("KIJI_DB_PATH") or DEFAULT_DB_PATH).expanduser()
        return cls(
            posts_dir=Path(posts_dir).expanduser() if posts_dir else example_posts(),
            site_dir=Path(site_dir).expanduser() if site_dir else None,
            sources=sources,
            sources_named=bool(sources or site_dir or posts_dir),
            data_dir=Path(data_dir).expanduser() if (data_dir := text("KIJI_DATA_DIR")) else db_path.parent,
            db_path=db_path,
            env_file=dotenv_path,
            site_url=(text("KIJI_SITE_URL") or "").rstrip("/") or None,
            discord_token=text("DISCORD_TOKEN"),
            dev_guild_id=_number(values, "KIJI_DEV_GUILD_ID", int, None),
            api_base=(text("DISCORD_API_BASE") or "").rstrip("/") or None,
            gateway_url=text("DISCORD_GATEWAY_URL"),
            poll_seconds=_number(values, "KIJI_POLL_SECONDS", float, 60.0, minimum=1.0),
            max_burst=_number(values, "KIJI_MAX_BURST", int, 10, minimum=1),
            fetch_rate=_number(values, "KIJI_FETCH_RATE", float, 2.0, minimum=0.01),
            notice_after_hours=_number(values, "KIJI_NOTICE_AFTER_HOURS", float, 6.0, minimum=0.01),
            user_agent_url=text("KIJI_USER_AGENT_URL"),
            database_url=text("KIJI_DATABASE_URL"),
            shard_count=(shard_count := _number(values, "KIJI_SHARD_COUNT", int, None, minimum=1)),
            shard_ids=_shard_ids(values.get("KIJI_SHARD_IDS", "").strip(), shard_count),
            lease_seconds=_number(values, "KIJI_LEASE_SECONDS", float, 30.0, minimum=1.0),
            ingest_idle_seconds=_number(values, "KIJI_INGEST_IDLE_SECONDS", float, 30.0, minimum=0.0),
            llm_base_url=(text("KIJI_LLM_BASE_URL") or "").rstrip("/") or None,
            llm_model=text("KIJI_LLM_MODEL"),
            llm_api_key=text("KIJI_LLM_API_KEY"),
            llm_timeout=_number(values, "KIJI_LLM_TIMEOUT", float, 20.0, minimum=0.1),
            llm_prompt_chars=_number(values, "KIJI_LLM_PROMPT_CHARS", int, 6000, minimum=200),
        )


T = TypeVar("T", int, float)


def _number(values: Mapping[str, str], name: str, kind: type[T], default: T | None, minimum: float | None = None) -> T:
    raw = values.get(name, "").strip()
    if not raw:
        return default  # type: ignore[return-value]
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a valid {kind.__name__}; fix it in your environment or .env"
        ) from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}; fix it in your environment or .env")
    return value


def _shard_ids(raw: str, count: int | None) -> tuple[int, ...] | None:
    """KIJI_SHARD_IDS ("0,1"): which of the KIJI_SHARD_COUNT shards this process runs."""
    if not raw:
        return None
    if count is None:
        raise SettingsError(f"KIJI_SHARD_IDS={raw!r} needs KIJI_SHARD_COUNT, the number of shards across all processes")
    try:
        ids = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise SettingsError(f"KIJI_SHARD_IDS={raw!r} is not a list of shard numbers such as 0,1") from None
    if wrong := [i for i in ids if not 0 <= i < count]:
        raise SettingsError(
            f"KIJI_SHARD_IDS={raw!r}: shard {wrong[0]} is not between 0 and {count - 1} (KIJI_SHARD_COUNT={count})"
        )
    if len(set(ids)) != len(ids):
        raise SettingsError(f"KIJI_SHARD_IDS={raw!r} names a shard twice")
    return ids


def is_example(posts_dir: str | Path) -> bool:
    """Whether a posts folder setting names the shipped example blog (as the old `.env.example` did)."""
    if str(posts_dir).strip().rstrip("/") == LEGACY_EXAMPLE_DIR:
        return True
    try:
        return Path(posts_dir).expanduser().resolve() == EXAMPLE_POSTS
    except (OSError, RuntimeError):
        return False


def example_posts() -> Path:
    """The shipped example folder, inside the package."""
    return EXAMPLE_POSTS


def configured_environ(
    environ: Mapping[str, str] | None = None, dotenv_path: Path | None = DEFAULT_ENV_FILE
) -> dict[str, str]:
    """The variables Kiji is configured by: `.env`, then the real environment over it, as users of
    twelve-factor apps expect.

    A relative path in the file is taken from the file's folder, so the same file read from
    elsewhere (`--env-file`) names the same database and blogs; the environment's stay relative
    to the current folder, as a shell user expects.
    """
    values: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        from_file = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
        values.update(_anchored(from_file, dotenv_path.absolute().parent))
    values.update(os.environ if environ is None else environ)
    return values


def _anchored(values: dict[str, str], folder: Path) -> dict[str, str]:
    def anchor(text: str) -> str:
        text = text.strip()
        if not text or text.startswith(("~", "git+")) or "://" in text or Path(text).is_absolute():
            return text
        return text if text.rstrip("/") == LEGACY_EXAMPLE_DIR else str(folder / text)

    anchored = dict(values)
    for name in _PATH_SETTINGS:
        if name in anchored:
            anchored[name] = anchor(anchored[name])
    if "KIJI_SOURCES" in anchored:
        anchored["KIJI_SOURCES"] = "\n".join(anchor(spec) for spec in anchored["KIJI_SOURCES"].split())
    return anchored
