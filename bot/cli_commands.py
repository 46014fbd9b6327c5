"""The `kiji` commands that read the store or start the bot: posts, post, tags, tag, search,
deliveries, invite, run and demo (`ingest`, `sources` and `backup` are in `bot.cli_ingest`).

Imported only when one of them runs, so `kiji --help` and `kiji ingest` do not load them.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TextIO

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
    text_argument,
)
from bot.settings import Settings
from bot.sources.folder import FolderSource, folder_problem
from bot.sources.post_error import PostError
from bot.store import StoreError
from bot.tokens import application_id_from_token, token_problem


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
    from bot.services.lookup import parse_id  # loads rapidfuzz: only for this command

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
    from bot.discord.i18n import pause_reason_in

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
    from bot.discord.run import StartFailed, run_bot  # here, so the other commands never load discord.py
    from bot.store.run_lock import exclusive_run

    try:
        with exclusive_run(settings.store_url):  # one bot per SQLite file; PostgreSQL takes several
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


async def run_summarize(args: argparse.Namespace, out: TextIO) -> int:
    from bot.services.summary_files import summarize_files

    return summarize_files(args.files, args.length, args.json, out)
