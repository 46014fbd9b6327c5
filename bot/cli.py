"""The `kiji` command line: the same store and ingest code paths the bot uses.

Every reading command has `--json` for machines; without it, output is for people.
Exit status: 0 on success (an ingest with some broken posts still succeeds), 1 for an
unknown post or tag, 2 when nothing could be done (bad folder, unusable database, bad
token), 75 when Discord could not be reached or failed (trying again later may work).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot.cli_args import discord_id, port, positive_limit
from bot.cli_base import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_TEMPORARY,
    EXIT_UNUSABLE,
    CommandFailed,
    configured_sources,
    count,
    opened_store,
    post_line,
    print_json,
    settings_from_args,
    text_argument,
    with_stored_sources,
)
from bot.cli_ingest import run_backup, run_ingest, run_sources
from bot.cli_render import add_render_arguments, run_render
from bot.content.summary_files import summarize_files
from bot.discord.i18n import pause_reason_in
from bot.logging_setup import NORMAL, QUIET, VERBOSE, configure_logging
from bot.services.lookup import parse_id
from bot.settings import Settings, SettingsError
from bot.sources.folder import FolderSource, folder_problem
from bot.sources.post_error import PostError
from bot.store import StoreError
from bot.tokens import application_id_from_token, token_problem

log = logging.getLogger(__name__)


async def run_posts(settings: Settings, out: TextIO, as_json: bool, with_text: bool = False) -> int:
    async with opened_store(settings) as store:
        posts = await store.all_posts()
        texts = await store.texts([post.id for post in posts]) if with_text else {}
    if as_json:
        extra = (lambda post: {"text": texts.get(post.id, "")}) if with_text else (lambda post: {})
        print_json([{**post.as_json(), **extra(post)} for post in posts], out)
    else:
        for post in posts:
            out.write(post_line(post) + ("  (scheduled)" if post.scheduled() else "") + "\n")
            if with_text:
                out.write("\n" + texts.get(post.id, "") + "\n\n")
        out.write(f"{count(len(posts), 'post')}\n")
    return EXIT_OK


def _paths_meant(settings: Settings, ref: str) -> list[str]:
    """Stored paths `ref` may mean: Jekyll's own (`_posts/x.md`), or the file as the user sees it.

    A plain posts folder is stored as `_posts/…`, so `x.md` or `my-posts/x.md` (from the
    current folder) name the same post. A file named from anywhere (`~/blog/_posts/x.md`,
    tab-completed) is tried by its trailing parts, longest first, so it is found without
    repeating the `--site` it was ingested with.
    """
    ref = ref.replace("\\", "/")
    meant = [ref]
    try:
        resolved = Path(ref).expanduser().resolve()
    except (OSError, RuntimeError):
        resolved = None
    with contextlib.suppress(ValueError, OSError):
        if resolved is not None:
            inside = resolved.relative_to(settings.source_dir.resolve()).as_posix()
            meant += [inside, f"_posts/{inside}"]
    meant.append(f"_posts/{ref}")
    if resolved is not None:
        parts = resolved.parts[1:]
        for start in range(len(parts)):
            tail = "/".join(parts[start:])
            meant += [tail, f"_posts/{tail}"]
    return list(dict.fromkeys(meant))


def _not_found_hint(ref: str) -> str:
    if Path(ref).expanduser().is_file():
        return "that file is not in the store: run `kiji ingest` with --posts or --site of its folder"
    return "`kiji posts` lists them"


async def run_post(settings: Settings, out: TextIO, as_json: bool, ref: str) -> int:
    try:
        text_argument(ref, "post path")
    except CommandFailed:
        if as_json:
            print_json([], out)
        raise
    async with opened_store(settings) as store:
        post_id = parse_id(ref)
        post = await store.get_post(post_id) if post_id is not None else None
        for path in [] if post else _paths_meant(settings, ref):
            if (post := await store.get_post_by_path(path)) is not None:
                break
        text = await store.get_text(post.id) if post else None
    if post is None:
        if as_json:
            print_json([], out)
        raise CommandFailed(f"no post with id or path {ref!r}; {_not_found_hint(ref)}", EXIT_NOT_FOUND)
    if as_json:
        print_json({**post.as_json(), "text": text}, out)
    else:
        out.write(post_line(post) + "\n\n" + (text or "") + "\n")
    return EXIT_OK


async def run_tags(settings: Settings, out: TextIO, as_json: bool) -> int:
    async with opened_store(settings) as store:
        tags = await store.tags()
    if as_json:
        print_json([{"tag": t.name, "count": t.count} for t in tags], out)
    else:
        for t in tags:
            out.write(f"{t.count:>6}  {t.name}\n")
    return EXIT_OK


async def run_tag(settings: Settings, out: TextIO, as_json: bool, tag: str, limit: int) -> int:
    text_argument(tag, "tag")
    async with opened_store(settings) as store:
        name = await store.tag_by_key(tag)
        posts = await store.posts_by_tag(tag, limit) if name else []
    if name is None:
        if as_json:
            print_json([], out)
        raise CommandFailed(f"no tag {tag!r}; `kiji tags` lists them", EXIT_NOT_FOUND)
    if as_json:
        print_json([post.as_json() for post in posts], out)
    else:
        for post in posts:
            out.write(post_line(post) + "\n")
    return EXIT_OK


async def run_search(settings: Settings, out: TextIO, as_json: bool, query: str, limit: int) -> int:
    if not text_argument(query, "search query").strip():
        raise CommandFailed("the search query is empty: give a word or two to search for, e.g. kiji search 推論")
    async with opened_store(settings) as store:
        hits = await store.search(query, limit)
    if as_json:
        print_json([hit.post.as_json() for hit in hits], out)
    else:
        for hit in hits:
            out.write(post_line(hit.post) + "\n")
        out.write(f"{count(len(hits), 'result')} for {query!r}\n")
    return EXIT_OK


async def run_deliveries(
    settings: Settings, out: TextIO, as_json: bool, post_id: int | None, channel_id: int | None
) -> int:
    """The announcement ledger: answers "why wasn't post X announced in channel Y?"."""
    async with opened_store(settings) as store:
        deliveries = await store.deliveries(post_id=post_id, channel_id=channel_id)
        subscriptions = {s.id: s for s in await store.subscriptions()}
    if as_json:
        print_json([d.as_json() for d in deliveries], out)
        return EXIT_OK
    for d in deliveries:
        subscription = subscriptions.get(d.subscription_id)
        paused = ""
        if subscription and not subscription.active:
            paused = f" (subscription paused: {pause_reason_in(subscription.paused_reason or '', 'en')})"
        error = f" last error: {d.last_error}" if d.last_error else ""
        out.write(
            f"{d.state:<8} channel {d.channel_id}  {d.post_path}  attempts {d.attempts}"
            f"{f'  message {d.message_id}' if d.message_id else ''}{error}{paused}\n"
        )
    out.write(f"{count(len(deliveries), 'delivery', 'deliveries')}\n")
    return EXIT_OK


async def run_invite(settings: Settings, out: TextIO, client_id: int | None) -> int:
    if client_id is None and settings.discord_token and (problem := token_problem(settings.discord_token)):
        raise CommandFailed(f"{problem}; or pass --client-id (the Application ID on General Information)")
    application_id = client_id or application_id_from_token(settings.discord_token or "")
    if application_id is None:
        raise CommandFailed(
            "cannot tell the application id: pass --client-id (Developer Portal → your application → "
            "General Information → Application ID) or set DISCORD_TOKEN"
        )
    from bot.discord.invite import invite_url, user_install_url  # here, so other commands never load discord.py

    out.write(f"{INVITE_SERVER}\n{invite_url(application_id)}\n")
    out.write(f"{INVITE_USER}\n{user_install_url(application_id)}\n")
    return EXIT_OK


INVITE_SERVER = "Add Kiji to a server (announcements and every command):"
INVITE_USER = (
    "Install Kiji to your own account (the reading commands in DMs, group DMs and any server; "
    "enable User Install in the Developer Portal first, see README):"
)


def missing_token(env_file: Path | None) -> str:
    """Where Kiji looked for DISCORD_TOKEN, and how to get one: the same setup started from another
    folder finds no `.env`, and saying which file was looked for makes that plain."""
    if env_file is None:
        looked = "the environment"
    else:
        shown = env_file.absolute()
        looked = f"the environment and {shown}" + ("" if env_file.is_file() else ", which does not exist")
    return (
        f"DISCORD_TOKEN is not set (looked in {looked}). Create a bot at https://discord.com/developers/applications "
        "(your application → Bot → Reset Token), then put DISCORD_TOKEN=... in a .env file (copy .env.example) "
        "in the folder you run kiji from, or pass --env-file PATH, or set it in the environment."
    )


async def run_run(settings: Settings, sync: bool) -> int:
    if not settings.discord_token:
        raise CommandFailed(missing_token(settings.env_file))
    if problem := token_problem(settings.discord_token):
        raise CommandFailed(problem)
    sources = configured_sources(settings)
    # A local folder that is not there is a typo to fix now; a remote that is down is retried by the bot.
    for source in sources:
        if isinstance(source, FolderSource) and (problem := folder_problem(source.site_root, source.what)):
            raise CommandFailed(problem)
    from bot.discord.client import StartFailed, run_bot  # here, so the other commands never load discord.py

    try:
        await run_bot(settings, force_sync=sync, sources=sources)
    except StartFailed as exc:
        raise CommandFailed(str(exc), EXIT_TEMPORARY if exc.temporary else EXIT_UNUSABLE) from None
    except (RuntimeError, StoreError, PostError) as exc:
        raise CommandFailed(str(exc)) from exc
    return EXIT_OK


async def run_demo_command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    sources = configured_sources(settings)
    for source in sources:
        if isinstance(source, FolderSource) and (problem := folder_problem(source.site_root, source.what)):
            raise CommandFailed(problem)
    from bot.demo.runner import run_demo  # loads discord.py and aiohttp only for the demo
    from bot.demo.session import DemoError

    try:
        await run_demo(
            settings,
            sources,
            out,
            port=args.port,
            open_browser=not args.no_browser,
            spec=args.spec,
            keep_db=bool(args.db),
        )
    except (DemoError, StoreError, PostError, OSError) as exc:
        raise CommandFailed(str(exc)) from exc
    return EXIT_OK


async def _summarize(args: argparse.Namespace, out: TextIO) -> int:
    return summarize_files(args.files, args.length, args.json, out)


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
        p.add_argument("--db", metavar="PATH", help="the SQLite store (default KIJI_DB_PATH)")
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
    p = sub.add_parser("run", help="start the Discord bot (ingests the posts first)")
    source_flags(p)
    p.add_argument("--db", metavar="PATH", help="the SQLite store (default KIJI_DB_PATH)")
    p.add_argument("--sync", action="store_true", help="sync slash commands even if they look unchanged")
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


_Runner = Callable[[argparse.Namespace, Settings, TextIO], Awaitable[int]]

_RUNNERS: dict[str, _Runner] = {
    "ingest": lambda a, s, o: run_ingest(s, o, a.json),
    "posts": lambda a, s, o: run_posts(s, o, a.json, a.text),
    "post": lambda a, s, o: run_post(s, o, a.json, a.ref),
    "tags": lambda a, s, o: run_tags(s, o, a.json),
    "tag": lambda a, s, o: run_tag(s, o, a.json, a.tag, a.limit),
    "search": lambda a, s, o: run_search(s, o, a.json, a.query, a.limit),
    "sources": lambda a, s, o: run_sources(s, o, a.json),
    "deliveries": lambda a, s, o: run_deliveries(s, o, a.json, a.post, a.channel),
    "backup": lambda a, s, o: run_backup(s, o, a.json, Path(a.target).expanduser()),
    "run": lambda a, s, o: run_run(s, a.sync),
    "summarize": lambda a, s, o: _summarize(a, o),
    "invite": lambda a, s, o: run_invite(s, o, a.client_id),
    "demo": lambda a, s, o: run_demo_command(a, s, o),
    "render": lambda a, s, o: run_render(s, o, a),
}


_SAYS_WHAT_IT_DOES = {"run", "demo"}
# The commands that read the configured blogs: with none named, a store's own blogs are meant.
_READS_SOURCES = {"ingest", "sources", "run", "post"}


async def _run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.command in _READS_SOURCES or (args.command == "demo" and args.db):
        settings = await with_stored_sources(settings)
    return await _RUNNERS[args.command](args, settings, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    # Short commands print what they did; only a long-running one needs its log to say so.
    configure_logging(args.verbosity if args.command in _SAYS_WHAT_IT_DOES else min(args.verbosity, QUIET))
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
