"""`kiji store copy --to postgresql://…`: move a SQLite store into a new PostgreSQL database.

The copy itself is `bot.store.copy`; this is what the operator sees. The target's password,
whether in the URL or refused by the server, never appears in what is printed.
"""

from __future__ import annotations

from typing import TextIO
from urllib.parse import unquote, urlsplit

from bot.cli_base import EXIT_OK, CommandFailed, opened_store, print_json
from bot.settings import Settings
from bot.store import StoreError, open_store, parse_location

# What the summary line names, in this order (the search rows and caches follow the posts).
_SHOWN = (("posts", "posts"), ("subscriptions", "subscriptions"), ("deliveries", "deliveries"),
          ("digests", "digests"), ("notices", "notices"), ("sources", "blogs"))  # fmt: skip


async def run_store_copy(settings: Settings, out: TextIO, as_json: bool, to: str) -> int:
    import asyncpg

    from bot.store.copy import copy_store

    try:
        target_location = parse_location(to)
    except StoreError as exc:
        raise CommandFailed(f"--to: {exc}") from None
    if target_location.path is not None:
        raise CommandFailed(
            f"--to {target_location.display}: give a postgresql:// URL (to copy a SQLite file, use `kiji backup`)"
        )
    async with opened_store(settings) as source:
        if source.location.path is None:
            raise CommandFailed(
                f"the store to copy is {source.location.display}, not a SQLite file: "
                "pass --db PATH (or set KIJI_DB_PATH) to name the SQLite store"
            )
        try:
            target = await open_store(target_location)
        except StoreError as exc:
            raise CommandFailed(str(exc)) from None
        try:
            copied = await copy_store(source, target)
        except StoreError as exc:
            raise CommandFailed(str(exc)) from None
        except (asyncpg.PostgresError, ValueError) as exc:
            raise CommandFailed(
                f"copying into {target_location.display} failed, nothing was copied: {_without_password(str(exc), to)}"
            ) from None
        finally:
            await target.close()
    if as_json:
        print_json({"from": source.location.display, "to": target_location.display, "copied": copied}, out)
    else:
        counts = ", ".join(f"{copied.get(table, 0)} {label}" for table, label in _SHOWN)
        out.write(f"copied {source.location.display} into {target_location.display}: {counts}\n")
    return EXIT_OK


def _without_password(text: str, url: str) -> str:
    """A server's message with the URL's password blanked, should it ever quote it."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    return text.replace(unquote(password), "***") if password else text
