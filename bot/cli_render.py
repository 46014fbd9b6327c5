"""`kiji render`: the JSON body Kiji would send to Discord to announce a post, without sending it.

It goes through the same renderer as the announcer and the `/subscribe` preview, strictly: a
template that would give a message Discord refuses exits 2 with the reason, as `/subscribe`
refuses it. Nothing is written to the store (summaries are made but not cached).
"""

from __future__ import annotations

import argparse
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.cli_base import EXIT_NOT_FOUND, EXIT_OK, EXIT_UNUSABLE, CommandFailed, opened_store, print_json
from bot.content.templates import TemplateError
from bot.discord.announcement import AnnouncementStyle, render_announcement
from bot.discord.ui import summary_parts
from bot.models import BlogSource, Post
from bot.services.lookup import parse_id
from bot.services.summaries import SummaryService
from bot.settings import Settings
from bot.store import KijiStore


async def run_render(settings: Settings, out: TextIO, args: argparse.Namespace) -> int:
    try:
        style = AnnouncementStyle.of(args.layout, args.template, args.timezone)
    except TemplateError as exc:
        raise CommandFailed(f"the template cannot be used: {exc}", EXIT_UNUSABLE) from None
    async with opened_store(settings) as store:
        blogs = await store.sources()
        post = await _find_post(store, blogs, args.post, args.blog)
        summaries = SummaryService(store)

        async def summarize(post: Post, length: str, locale: str) -> tuple[str, str]:
            return summary_parts(await summaries.shown(post, length), locale)

        try:
            announcement = await render_announcement(
                post,
                style,
                summarize=summarize,
                locale=args.locale,
                blog_tz=ZoneInfo("UTC"),
                blog=next((b.label for b in blogs if b.id == post.source_id), None) if len(blogs) > 1 else None,
                role_id=args.role,
                strict=True,
            )
        except TemplateError as exc:
            raise CommandFailed(f"the template cannot be used: {exc}", EXIT_UNUSABLE) from None
    print_json(announcement.payload(), out)
    return EXIT_OK


async def _find_post(store: KijiStore, blogs: list[BlogSource], ref: str, blog: str | None) -> Post:
    source_id = None
    if blog is not None:
        wanted = blog.strip()
        found = next((b for b in blogs if wanted in (str(b.id), b.name, b.display, b.label)), None)
        if found is None:
            names = ", ".join(b.label for b in blogs) or "none"
            raise CommandFailed(f"no blog {blog!r} in the store; the blogs are: {names}", EXIT_NOT_FOUND)
        source_id = found.id
    post_id = parse_id(ref)
    post = await store.get_post(post_id) if post_id is not None else None
    if post is not None and (source_id is None or post.source_id == source_id):
        return post
    for path in (ref, f"_posts/{ref}"):
        if (post := await store.get_post_by_path(path, source_id)) is not None:
            return post
    raise CommandFailed(f"no post with id or path {ref!r}; `kiji posts` lists them", EXIT_NOT_FOUND)
