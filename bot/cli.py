"""The `kiji` command line: the same store and ingest code paths the bot uses.

Every reading command has `--json` for machines; without it, output is for people.
Exit status: 0 on success (an ingest with some broken posts still succeeds), 1 for an
unknown post or tag, 2 when nothing could be done (bad folder, unusable database).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot.content.summary_files import summarize_files
from bot.discord.i18n import pause_reason_in
from bot.models import Post
from bot.services.ingest import IngestReport, describe_site_problem, ingest
from bot.services.lookup import parse_id
from bot.settings import Settings, SettingsError
from bot.sources.post_error import PostError
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_UNUSABLE = 2


class CommandFailed(Exception):
    """Ends a command with a message for the user and an exit status."""

    def __init__(self, message: str, status: int = EXIT_UNUSABLE) -> None:
        super().__init__(message)
        self.status = status


def _print_json(value: object, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False) + "\n")


def _post_line(post: Post) -> str:
    tags = ", ".join(post.tags)
    return f"{post.id:>6}  {post.date_iso[:10]}  {post.title}  [{tags}]\n         {post.abs_url}"


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides: dict[str, object] = {}
    if getattr(args, "posts", None):
        overrides["posts_dir"] = Path(args.posts).expanduser()
        overrides["site_dir"] = None
    if getattr(args, "site", None):
        overrides["site_dir"] = Path(args.site).expanduser()
    if getattr(args, "db", None):
        overrides["db_path"] = Path(args.db).expanduser()
    if overrides:
        settings = replace(settings, **overrides)
    return settings


@contextlib.asynccontextmanager
async def _opened_store(settings: Settings, create: bool = False) -> AsyncIterator[Store]:
    """The store; only `kiji ingest` may create it, so a mistyped path is an error, not an empty answer."""
    try:
        store = await Store.open(settings.db_path, create=create)
    except StoreError as exc:
        raise CommandFailed(f"{exc} (set KIJI_DB_PATH or pass --db)") from exc
    try:
        yield store
    finally:
        await store.close()


class _ProgressBar:
    """A one-line progress bar on a terminal; silent when output is piped."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        width = 30
        filled = width * done // total
        self.stream.write(f"\rreading posts [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")


async def run_ingest(settings: Settings, out: TextIO, as_json: bool) -> int:
    root = settings.source_dir
    problem = describe_site_problem(root)
    if problem:
        raise CommandFailed(problem)
    try:
        site = settings.load_site()
    except PostError as exc:
        raise CommandFailed(f"cannot read the site configuration {exc}") from exc
    except OSError as exc:
        problem = f"cannot read {exc.filename or root}: {exc.strerror or exc}; check its permissions"
        raise CommandFailed(problem) from exc
    bar = _ProgressBar(sys.stderr) if not as_json else None
    async with _opened_store(settings, create=True) as store:
        try:
            report: IngestReport = await ingest(store, site, progress=bar)
        except StoreError as exc:
            raise CommandFailed(str(exc)) from exc
        finally:
            if bar:
                bar.finish()
    if as_json:
        _print_json(report.as_json(), out)
    else:
        out.write(report.summary_line() + "\n")
        for failure in report.failed:
            out.write(f"  failed: {failure.path}: {failure.error}\n")
    return EXIT_OK


async def run_posts(settings: Settings, out: TextIO, as_json: bool) -> int:
    async with _opened_store(settings) as store:
        posts = await store.all_posts()
    if as_json:
        _print_json([post.as_json() for post in posts], out)
    else:
        for post in posts:
            out.write(_post_line(post) + ("  (scheduled)" if post.scheduled() else "") + "\n")
        out.write(f"{len(posts)} posts\n")
    return EXIT_OK


def _paths_meant(settings: Settings, ref: str) -> list[str]:
    """Stored paths `ref` may mean: Jekyll's own (`_posts/x.md`), or the file as the user sees it.

    A plain posts folder is stored as `_posts/…`, so `x.md` or `my-posts/x.md` (from the
    current folder) name the same post.
    """
    ref = ref.replace("\\", "/")
    meant = [ref]
    try:
        inside = Path(ref).resolve().relative_to(settings.source_dir.resolve()).as_posix()
    except (ValueError, OSError):
        inside = None
    if inside:
        meant.append(inside)
        meant.append(f"_posts/{inside}")
    meant.append(f"_posts/{ref}")
    return list(dict.fromkeys(meant))


async def run_post(settings: Settings, out: TextIO, as_json: bool, ref: str) -> int:
    async with _opened_store(settings) as store:
        post_id = parse_id(ref)
        post = await store.get_post(post_id) if post_id is not None else None
        for path in [] if post else _paths_meant(settings, ref):
            if (post := await store.get_post_by_path(path)) is not None:
                break
        text = await store.get_text(post.id) if post else None
    if post is None:
        if as_json:
            _print_json([], out)
        raise CommandFailed(f"no post with id or path {ref!r}; `kiji posts` lists them", EXIT_NOT_FOUND)
    if as_json:
        _print_json({**post.as_json(), "text": text}, out)
    else:
        out.write(_post_line(post) + "\n\n" + (text or "") + "\n")
    return EXIT_OK


async def run_tags(settings: Settings, out: TextIO, as_json: bool) -> int:
    async with _opened_store(settings) as store:
        tags = await store.tags()
    if as_json:
        _print_json([{"tag": t.name, "count": t.count} for t in tags], out)
    else:
        for t in tags:
            out.write(f"{t.count:>6}  {t.name}\n")
    return EXIT_OK


async def run_tag(settings: Settings, out: TextIO, as_json: bool, tag: str, limit: int) -> int:
    async with _opened_store(settings) as store:
        name = await store.tag_by_key(tag)
        posts = await store.posts_by_tag(tag, limit) if name else []
    if name is None:
        if as_json:
            _print_json([], out)
        raise CommandFailed(f"no tag {tag!r}; `kiji tags` lists them", EXIT_NOT_FOUND)
    if as_json:
        _print_json([post.as_json() for post in posts], out)
    else:
        for post in posts:
            out.write(_post_line(post) + "\n")
    return EXIT_OK


async def run_search(settings: Settings, out: TextIO, as_json: bool, query: str, limit: int) -> int:
    async with _opened_store(settings) as store:
        hits = await store.search(query, limit)
    if as_json:
        _print_json([hit.post.as_json() for hit in hits], out)
    else:
        for hit in hits:
            out.write(_post_line(hit.post) + "\n")
        out.write(f"{len(hits)} results for {query!r}\n")
    return EXIT_OK


async def run_deliveries(
    settings: Settings, out: TextIO, as_json: bool, post_id: int | None, channel_id: int | None
) -> int:
    """The announcement ledger: answers "why wasn't post X announced in channel Y?"."""
    async with _opened_store(settings) as store:
        deliveries = await store.deliveries(post_id=post_id, channel_id=channel_id)
        subscriptions = {s.id: s for s in await store.subscriptions()}
    if as_json:
        _print_json([d.as_json() for d in deliveries], out)
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
    out.write(f"{len(deliveries)} deliveries\n")
    return EXIT_OK


# What Kiji needs in a channel: see it, post, embed, and for forums create posts (the
# forum form of Send Messages) and write in their threads. Nothing else.
INVITE_PERMISSIONS = {
    "view_channel": 1 << 10,
    "send_messages": 1 << 11,
    "embed_links": 1 << 14,
    "send_messages_in_threads": 1 << 38,
}


def invite_url(application_id: int) -> str:
    permissions = sum(INVITE_PERMISSIONS.values())
    return (
        "https://discord.com/oauth2/authorize"
        f"?client_id={application_id}&scope=bot+applications.commands&permissions={permissions}"
    )


def application_id_from_token(token: str) -> int | None:
    """A bot token starts with the base64 of the bot's user id, which is its application id."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(decoded) if decoded.isdigit() else None


async def run_invite(settings: Settings, out: TextIO, client_id: int | None) -> int:
    application_id = client_id or (application_id_from_token(settings.discord_token or ""))
    if application_id is None:
        raise CommandFailed(
            "cannot tell the application id: pass --client-id (Developer Portal → your application → "
            "General Information → Application ID) or set DISCORD_TOKEN"
        )
    out.write(invite_url(application_id) + "\n")
    return EXIT_OK


MISSING_TOKEN = (
    "DISCORD_TOKEN is not set. Create a bot at https://discord.com/developers/applications "
    "(your application → Bot → Reset Token), then put DISCORD_TOKEN=... in a .env file next to "
    "README.md (copy .env.example) or in the environment."
)


async def run_run(settings: Settings, sync: bool) -> int:
    if not settings.discord_token:
        raise CommandFailed(MISSING_TOKEN)
    problem = describe_site_problem(settings.source_dir)
    if problem:
        raise CommandFailed(problem)
    from bot.discord.client import run_bot  # imported here so the other commands never load discord.py

    try:
        await run_bot(settings, force_sync=sync)
    except (RuntimeError, StoreError, PostError) as exc:
        raise CommandFailed(str(exc)) from exc
    return EXIT_OK


async def _summarize(args: argparse.Namespace, out: TextIO) -> int:
    return summarize_files(args.files, args.length, args.json, out)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number; give 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiji", description="Kiji (記事): serve a Jekyll blog's articles on Discord.")
    parser.add_argument("--version", action="version", version=f"kiji {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, *, source: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if source:
            where = p.add_mutually_exclusive_group()
            where.add_argument("--posts", metavar="DIR", help="a plain folder of Markdown posts (KIJI_POSTS_DIR)")
            where.add_argument("--site", metavar="DIR", help="a Jekyll site root with _config.yml (KIJI_SITE_DIR)")
        p.add_argument("--db", metavar="PATH", help="the SQLite store (default KIJI_DB_PATH)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    command("ingest", "load new, changed and deleted posts into the store", source=True)
    command("posts", "list every stored post")
    p = command("post", "show one post with its cleaned text", source=True)
    p.add_argument("ref", metavar="ID_OR_PATH")
    command("tags", "list tags with their post counts")
    p = command("tag", "list the posts with a tag, newest first")
    p.add_argument("tag")
    p.add_argument("--limit", type=_positive, default=50, help="at most this many posts (default 50)")
    p = command("search", "full-text search (Japanese and English), most relevant first")
    p.add_argument("query")
    p.add_argument("--limit", type=_positive, default=20, help="at most this many posts (default 20)")
    p = sub.add_parser("summarize", help="summarise Markdown files directly (no store needed)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--length", choices=["short", "standard", "long"], default="standard")
    p.add_argument("--json", action="store_true", help="JSON Lines, one object per file")
    p = command("deliveries", "show the announcement ledger (which post went to which channel)")
    p.add_argument("--post", type=int, metavar="ID", help="only this post")
    p.add_argument("--channel", type=int, metavar="ID", help="only this channel")
    p = sub.add_parser("run", help="start the Discord bot (ingests the posts first)")
    p.add_argument("--sync", action="store_true", help="sync slash commands even if they look unchanged")
    p = sub.add_parser("invite", help="print the URL that adds the bot to a server")
    p.add_argument("--client-id", type=int, help="the application id (default: read from DISCORD_TOKEN)")
    return parser


_Runner = Callable[[argparse.Namespace, Settings, TextIO], Awaitable[int]]

_RUNNERS: dict[str, _Runner] = {
    "ingest": lambda a, s, o: run_ingest(s, o, a.json),
    "posts": lambda a, s, o: run_posts(s, o, a.json),
    "post": lambda a, s, o: run_post(s, o, a.json, a.ref),
    "tags": lambda a, s, o: run_tags(s, o, a.json),
    "tag": lambda a, s, o: run_tag(s, o, a.json, a.tag, a.limit),
    "search": lambda a, s, o: run_search(s, o, a.json, a.query, a.limit),
    "deliveries": lambda a, s, o: run_deliveries(s, o, a.json, a.post, a.channel),
    "run": lambda a, s, o: run_run(s, a.sync),
    "summarize": lambda a, s, o: _summarize(a, o),
    "invite": lambda a, s, o: run_invite(s, o, a.client_id),
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = _settings(args)
        return asyncio.run(_RUNNERS[args.command](args, settings, out))
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
