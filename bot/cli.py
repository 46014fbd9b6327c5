"""The `kiji` command line: the same store and ingest code paths the bot uses.

Every reading command has `--json` for machines; without it, output is for people.
Exit status: 0 on success (an ingest with some broken posts still succeeds), 1 for an
unknown post or tag, 2 when nothing could be done (bad folder, unusable database, bad
token), 75 when Discord could not be reached or failed (trying again later may work).

This module holds only the parser and the dispatch: each command's module is imported when
that command runs, so `kiji --help` loads no store, no parser of posts and no Discord.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot import __version__
from bot.cli_args import add_render_arguments, discord_id, port, positive_limit
from bot.logging_setup import NORMAL, QUIET, VERBOSE, configure_logging

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiji", description="Kiji (記事): serve a Jekyll blog's articles on Discord.")
    parser.add_argument("--version", action="version", version=f"kiji {__version__}")
    _add_verbosity(parser, default=NORMAL)
    _add_env_file(parser, default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def folder_flags(p: argparse.ArgumentParser) -> None:
        where = p.add_mutually_exclusive_group()
        where.add_argument("--posts", metavar="DIR", help="a plain folder of Markdown posts (KIJI_POSTS_DIR)")
        where.add_argument("--site", metavar="DIR", help="a Jekyll site root with _config.yml (KIJI_SITE_DIR)")

    def source_flags(p: argparse.ArgumentParser) -> None:
        folder_flags(p)
        p.add_argument(
            "--source",
            action="append",
            metavar="SPEC",
            help="a blog to read: a folder, or git+URL[@REF][#subdirectory=DIR]; repeat for several "
            "(KIJI_SOURCES; replaces the configured sources)",
        )

    def command(name: str, help_text: str, *, source: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if source:
            folder_flags(p)
        p.add_argument("--db", metavar="PATH", help="a SQLite file or a postgresql:// URL")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    p = command("ingest", "load new, changed and deleted posts into the store")
    source_flags(p)
    p = command("posts", "list every stored post")
    p.add_argument("--text", action="store_true", help="with each post's cleaned text (for export)")
    p = command("post", "show one post with its cleaned text", source=True)
    p.add_argument("ref", metavar="ID_OR_PATH")
    command("tags", "list tags with their post counts")
    p = command("tag", "list the posts with a tag, newest first")
    p.add_argument("tag")
    p.add_argument("--limit", type=positive_limit, default=50, help="at most this many posts (default 50)")
    p = command("search", "full-text search (Japanese and English), most relevant first")
    p.add_argument("query")
    p.add_argument("--limit", type=positive_limit, default=20, help="at most this many posts (default 20)")
    p = sub.add_parser("summarize", help="summarise Markdown files directly (no store needed)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--length", choices=["short", "standard", "long"], default="standard")
    p.add_argument("--json", action="store_true", help="JSON Lines, one object per file")
    p = command("sources", "list the blogs: posts, last successful update, last error")
    source_flags(p)
    p = command("deliveries", "show the announcement ledger (which post went to which channel)")
    p.add_argument("--post", type=discord_id, metavar="ID", help="only this post")
    p.add_argument("--channel", type=discord_id, metavar="ID", help="only this channel")
    p = command(
        "backup", "copy the store (subscriptions and delivery ledger included) to a new file, safely while the bot runs"
    )
    p.add_argument("target", metavar="PATH", help="the new file to write; never overwritten")
    p = sub.add_parser("store", help="move the store: `kiji store copy --to postgresql://…`")
    actions = p.add_subparsers(dest="store_action", required=True, metavar="ACTION")
    copy_help = "copy a SQLite store (posts, blogs, subscriptions, ledgers) into a new, empty PostgreSQL database"
    q = actions.add_parser("copy", help=copy_help, description=copy_help + "; stop the bot first")
    q.add_argument("--db", metavar="PATH", help="the SQLite store to copy (default: KIJI_DB_PATH)")
    q.add_argument("--to", required=True, metavar="URL", help="postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("run", help="start the Discord bot (ingests the posts first)")
    source_flags(p)
    p.add_argument("--db", metavar="PATH", help="a SQLite file or a postgresql:// URL")
    p.add_argument("--sync", action="store_true", help="sync slash commands even if they look unchanged")
    p.add_argument("--shard-count", type=int, metavar="N", help="gateway shards across all processes")
    p.add_argument("--shard-ids", metavar="I[,J…]", help="the shards this process runs (default: all)")
    demo_help = "try Kiji in a browser: a local Discord emulation, no token, no network"
    p = sub.add_parser("demo", help=demo_help, description=demo_help + "; the page's URL is printed")
    source_flags(p)
    p.add_argument("--db", metavar="PATH", help="keep the demo's store here (default: a temporary one)")
    p.add_argument("--port", type=port, default=0, help="the page's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only print the page's URL")
    p.add_argument("--spec", metavar="PATH", help="Discord's OpenAPI spec to check requests against")
    p = command("render", "print the JSON body Kiji would send to announce a post (sends nothing)")
    add_render_arguments(p)
    p = sub.add_parser("invite", help="print the URLs that add the bot to a server and to your own account")
    p.add_argument("--client-id", type=discord_id, help="the application id (default: read from DISCORD_TOKEN)")
    for subparser in sub.choices.values():  # `kiji run -v` as well as `kiji -v run`
        _add_verbosity(subparser, default=argparse.SUPPRESS)
        _add_env_file(subparser, default=argparse.SUPPRESS)
    return parser


def _add_env_file(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--env-file", metavar="PATH", default=default,
        help="read settings from this file (default: .env in the current folder); relative paths in it "
        "are relative to it, and the environment wins over it",
    )  # fmt: skip


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", dest="verbosity", action="store_const", const=QUIET, default=default, help="warnings only"
    )
    group.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=VERBOSE, default=default,
        help="debug details too (default: one line per thing Kiji does)",
    )  # fmt: skip


_Runner = Callable[[argparse.Namespace, "Settings", TextIO], Awaitable[int]]


def _ingesting() -> Any:
    from bot import cli_ingest

    return cli_ingest


def _rendering() -> Any:
    from bot import cli_render

    return cli_render


def _commands() -> Any:
    from bot import cli_commands

    return cli_commands


def _store_commands() -> Any:
    from bot import cli_store

    return cli_store


_RUNNERS: dict[str, _Runner] = {
    "ingest": lambda a, s, o: _ingesting().run_ingest(s, o, a.json),
    "posts": lambda a, s, o: _commands().run_posts(s, o, a.json, a.text),
    "post": lambda a, s, o: _commands().run_post(s, o, a.json, a.ref),
    "tags": lambda a, s, o: _commands().run_tags(s, o, a.json),
    "tag": lambda a, s, o: _commands().run_tag(s, o, a.json, a.tag, a.limit),
    "search": lambda a, s, o: _commands().run_search(s, o, a.json, a.query, a.limit),
    "sources": lambda a, s, o: _ingesting().run_sources(s, o, a.json),
    "deliveries": lambda a, s, o: _commands().run_deliveries(s, o, a.json, a.post, a.channel),
    "backup": lambda a, s, o: _ingesting().run_backup(s, o, a.json, Path(a.target).expanduser()),
    "store": lambda a, s, o: _store_commands().run_store_copy(s, o, a.json, a.to),
    "run": lambda a, s, o: _commands().run_run(s, a.sync),
    "summarize": lambda a, s, o: _commands().run_summarize(a, o),
    "invite": lambda a, s, o: _commands().run_invite(s, o, a.client_id),
    "demo": lambda a, s, o: _commands().run_demo_command(a, s, o),
    "render": lambda a, s, o: _rendering().run_render(s, o, a),
}


_SAYS_WHAT_IT_DOES = {"run", "demo"}
# The commands that read the configured blogs: with none named, a store's own blogs are meant.
_READS_SOURCES = {"ingest", "sources", "run", "post"}


async def _run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from bot.cli_base import with_stored_sources

    if args.command in _READS_SOURCES or (args.command == "demo" and args.db):
        settings = await with_stored_sources(settings)
    return await _RUNNERS[args.command](args, settings, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    # Short commands print what they did; only a long-running one needs its log to say so.
    configure_logging(args.verbosity if args.command in _SAYS_WHAT_IT_DOES else min(args.verbosity, QUIET))
    import asyncio  # here, with the rest of what a command needs: `kiji --help` loads none of it

    from bot.cli_base import EXIT_OK, EXIT_UNUSABLE, CommandFailed, settings_from_args
    from bot.settings import SettingsError

    try:
        settings = settings_from_args(args)
        return asyncio.run(_run(args, settings, out))
    except (CommandFailed, SettingsError) as exc:
        print(f"kiji {args.command}: {exc}", file=sys.stderr)
        return exc.status if isinstance(exc, CommandFailed) else EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `kiji posts | head`: the reader has gone, which is not an error of ours; keep the
        # interpreter's final flush from raising again into the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
