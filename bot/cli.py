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
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot.cli_args import discord_id, port, positive_limit
from bot.content.summary_files import summarize_files
from bot.discord.i18n import pause_reason_in
from bot.logging_setup import NORMAL, QUIET, VERBOSE, configure_logging
from bot.models import Post
from bot.services.blogs import ingest_all, merged
from bot.services.ingest import IngestReport
from bot.services.lookup import parse_id
from bot.settings import Settings, SettingsError
from bot.sources.base import Source
from bot.sources.factory import sources_from_specs
from bot.sources.folder import FolderSource, folder_problem
from bot.sources.post_error import PostError
from bot.sources.site_config import Site, site_path
from bot.sources.specs import SpecError, parse_spec
from bot.store import Store, StoreError
from bot.tokens import application_id_from_token, token_problem

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_UNUSABLE = 2
EXIT_TEMPORARY = 75  # sysexits' EX_TEMPFAIL: Discord unreachable or failing; trying again later may work


class CommandFailed(Exception):
    """Ends a command with a message for the user and an exit status."""

    def __init__(self, message: str, status: int = EXIT_UNUSABLE) -> None:
        super().__init__(message)
        self.status = status


def _print_json(value: object, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False) + "\n")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _text_argument(value: str, what: str) -> str:
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


def _post_line(post: Post) -> str:
    tags = ", ".join(post.tags)
    return f"{post.id:>6}  {post.date_iso[:10]}  {post.title}  [{tags}]\n         {post.abs_url}"


def _settings(args: argparse.Namespace) -> Settings:
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
    if getattr(args, "db", None):
        overrides["db_path"] = Path(args.db).expanduser()
    if overrides:
        settings = replace(settings, **overrides)
    return settings


def _configured_sources(settings: Settings) -> list[Source]:
    try:
        return sources_from_specs(settings.source_specs, settings.data_dir)
    except SpecError as exc:
        raise CommandFailed(f"{exc} (KIJI_SOURCES or --source)") from exc


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
    """Ingest every configured source; a source that fails is reported, the others still go in (exit 2)."""
    sources = _configured_sources(settings)
    bar = _ProgressBar(sys.stderr) if not as_json else None
    async with _opened_store(settings, create=True) as store:
        try:
            outcomes = await ingest_all(store, sources, load=settings.load_site, progress=bar)
        except StoreError as exc:
            raise CommandFailed(str(exc)) from exc
        finally:
            if bar:
                bar.finish()
    report = merged(outcomes)
    failed_sources = [outcome for outcome in outcomes if outcome.error is not None]
    if as_json:
        _print_json({**report.as_json(), "sources": [outcome.as_json() for outcome in outcomes]}, out)
    else:
        several = len(outcomes) > 1
        for outcome in outcomes:
            if outcome.report is None:
                continue
            prefix = f"{outcome.source.display}: " if several else ""
            out.write(prefix + outcome.report.summary_line() + "\n")
            for failure in outcome.report.failed:  # the file the user can open, not the path Jekyll calls it
                shown = site_path(outcome.site, failure.path) if outcome.site else failure.path
                out.write(f"  failed: {shown}: {failure.error}\n")
    for outcome in outcomes:
        if outcome.report is not None and outcome.site is not None:
            for note in _ingest_notes(settings, outcome.site, outcome.report):
                print(f"kiji ingest: {note}", file=sys.stderr)
    if not failed_sources:
        return EXIT_OK
    reasons = "; ".join(
        f"{outcome.error}" if len(outcomes) == 1 else f"{outcome.source.display}: {outcome.error}"
        for outcome in failed_sources
    )
    if len(failed_sources) < len(outcomes):
        reasons += " (the other sources were ingested)"
    raise CommandFailed(reasons)


def _ingest_notes(settings: Settings, site: Site, report: IngestReport) -> list[str]:
    """What the user most likely did not mean: a site without configuration, a folder without posts."""
    notes = []
    if settings.site_dir is not None and site.root == settings.site_dir and not (site.root / "_config.yml").is_file():
        links = "" if site.url else "; post links will be relative (set KIJI_SITE_URL=https://your.blog for full ones)"
        notes.append(f"{site.root} has no _config.yml, so Jekyll's defaults apply{links}")
    if not (report.added or report.updated or report.unchanged or report.failed):
        where = "in its _posts/ folder" if not site.posts_only else "in it"
        notes.append(
            f"no posts in {site.root}: a post is a Markdown file named YYYY-MM-DD-title.md with front matter, {where}"
        )
    return notes


async def run_posts(settings: Settings, out: TextIO, as_json: bool, with_text: bool = False) -> int:
    async with _opened_store(settings) as store:
        posts = await store.all_posts()
        texts = await store.texts([post.id for post in posts]) if with_text else {}
    if as_json:
        extra = (lambda post: {"text": texts.get(post.id, "")}) if with_text else (lambda post: {})
        _print_json([{**post.as_json(), **extra(post)} for post in posts], out)
    else:
        for post in posts:
            out.write(_post_line(post) + ("  (scheduled)" if post.scheduled() else "") + "\n")
            if with_text:
                out.write("\n" + texts.get(post.id, "") + "\n\n")
        out.write(f"{_count(len(posts), 'post')}\n")
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
        _text_argument(ref, "post path")
    except CommandFailed:
        if as_json:
            _print_json([], out)
        raise
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
        raise CommandFailed(f"no post with id or path {ref!r}; {_not_found_hint(ref)}", EXIT_NOT_FOUND)
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
    _text_argument(tag, "tag")
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
    if not _text_argument(query, "search query").strip():
        raise CommandFailed("the search query is empty: give a word or two to search for, e.g. kiji search 推論")
    async with _opened_store(settings) as store:
        hits = await store.search(query, limit)
    if as_json:
        _print_json([hit.post.as_json() for hit in hits], out)
    else:
        for hit in hits:
            out.write(_post_line(hit.post) + "\n")
        out.write(f"{_count(len(hits), 'result')} for {query!r}\n")
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
    out.write(f"{_count(len(deliveries), 'delivery', 'deliveries')}\n")
    return EXIT_OK


def _configured_names(settings: Settings) -> list[str]:
    """The store names of the configured sources, without building them (no git needed to list them)."""
    try:
        return [parse_spec(spec).name for spec in settings.source_specs]
    except SpecError as exc:
        raise CommandFailed(f"{exc} (KIJI_SOURCES or --source)") from exc


async def run_sources(settings: Settings, out: TextIO, as_json: bool) -> int:
    """Every blog the store holds or the settings name: posts, last successful update, last error.

    Read from the store, so it answers while the bot runs elsewhere, or not at all.
    """
    configured = _configured_names(settings)
    async with _opened_store(settings) as store:
        stored = await store.sources()
    rows = [(blog, blog.name in configured) for blog in stored]
    stored_names = {blog.name for blog in stored}
    never_read = [name for name in configured if name not in stored_names]
    if as_json:
        listed = [{**blog.as_json(), "configured": is_configured} for blog, is_configured in rows]
        listed += [
            {"name": name, "display": name, "posts": 0, "last_success_at": None, "last_error": None, "configured": True}
            for name in never_read
        ]
        _print_json(listed, out)
        return EXIT_OK
    for blog, is_configured in rows:
        out.write(f"{blog.label}{'' if is_configured else '  (no longer configured)'}\n")
        if blog.label != blog.display and blog.display:
            out.write(f"  {blog.display}\n")
        out.write(f"  {blog.posts} post{'' if blog.posts == 1 else 's'}, last updated {_when(blog.last_success_at)}\n")
        if blog.last_error:
            out.write(f"  last error ({_when(blog.last_error_at)}): {blog.last_error}\n")
    for name in never_read:
        out.write(f"{name}\n  never read (run `kiji ingest`)\n")
    return EXIT_OK


def _when(moment: float | None) -> str:
    if not moment:
        return "never"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def run_invite(settings: Settings, out: TextIO, client_id: int | None) -> int:
    if client_id is None and settings.discord_token and (problem := token_problem(settings.discord_token)):
        raise CommandFailed(f"{problem}; or pass --client-id (the Application ID on General Information)")
    application_id = client_id or application_id_from_token(settings.discord_token or "")
    if application_id is None:
        raise CommandFailed(
            "cannot tell the application id: pass --client-id (Developer Portal → your application → "
            "General Information → Application ID) or set DISCORD_TOKEN"
        )
    from bot.discord.invite import invite_url  # imported here so the other commands never load discord.py

    out.write(invite_url(application_id) + "\n")
    return EXIT_OK


async def run_backup(settings: Settings, out: TextIO, as_json: bool, target: Path) -> int:
    async with _opened_store(settings) as store:
        try:
            subscriptions, deliveries = await store.backup(target)
        except StoreError as exc:
            raise CommandFailed(str(exc)) from exc
    if as_json:
        _print_json({"backup": str(target), "subscriptions": subscriptions, "deliveries": deliveries}, out)
    else:
        out.write(f"backed up {settings.db_path} to {target}: {subscriptions} subscriptions, {deliveries} deliveries\n")
    return EXIT_OK


MISSING_TOKEN = (
    "DISCORD_TOKEN is not set. Create a bot at https://discord.com/developers/applications "
    "(your application → Bot → Reset Token), then put DISCORD_TOKEN=... in a .env file next to "
    "README.md (copy .env.example) or in the environment."
)


async def run_run(settings: Settings, sync: bool) -> int:
    if not settings.discord_token:
        raise CommandFailed(MISSING_TOKEN)
    if problem := token_problem(settings.discord_token):
        raise CommandFailed(problem)
    sources = _configured_sources(settings)
    # A local folder that is not there is a typo to fix now; a remote that is down is retried by the bot.
    for source in sources:
        if isinstance(source, FolderSource) and (problem := folder_problem(source.site_root)):
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
    sources = _configured_sources(settings)
    for source in sources:
        if isinstance(source, FolderSource) and (problem := folder_problem(source.site_root)):
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
    p = sub.add_parser("invite", help="print the URL that adds the bot to a server")
    p.add_argument("--client-id", type=discord_id, help="the application id (default: read from DISCORD_TOKEN)")
    for subparser in sub.choices.values():  # `kiji run -v` as well as `kiji -v run`
        _add_verbosity(subparser, default=argparse.SUPPRESS)
    return parser


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
}


_SAYS_WHAT_IT_DOES = {"run", "demo"}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    # Short commands print what they did; only a long-running one needs its log to say so.
    configure_logging(args.verbosity if args.command in _SAYS_WHAT_IT_DOES else min(args.verbosity, QUIET))
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
