"""/search: full-text search over the blog, Japanese and English."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.content import limits
from bot.content.snippets import snippet
from bot.discord.blogs import blog_choices, blog_filter, blog_labels, drop_blog_option, label_of
from bot.discord.client import KijiBot
from bot.discord.i18n import t
from bot.discord.reach import anywhere
from bot.discord.ui import PAGE_SIZE, Paginator, page_embed, post_entry, reply

MAX_RESULTS = 100


class SearchCog(commands.Cog):
    def __init__(self, bot: KijiBot) -> None:
        self.bot = bot
        drop_blog_option(self, bot)

    async def blog_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await blog_choices(self.bot, current)

    @anywhere
    @app_commands.command(name=_("search"), description=_("Search the blog (Japanese or English)"))
    @app_commands.describe(query=_("Words to look for"), blog=_("Only posts from this blog"))
    @app_commands.autocomplete(blog=blog_autocomplete)
    async def search(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 200], blog: str | None = None
    ) -> None:
        locale = interaction.locale
        if not query.strip():
            await reply(interaction, content=t("empty_query", locale), ephemeral=True)
            return
        go_on, source_id = await blog_filter(self.bot, interaction, blog)
        if not go_on:
            return
        # Ids, and each page's posts read when it is shown: a hundred posts held by every recent
        # /search made the garbage collector's full passes slow, and reading them all made the
        # search itself slow during an ingest (bench.latency_during_ingest).
        found = [
            post_id
            for post_id, _in_title in await self.bot.store.search_matches(query, MAX_RESULTS, source_id=source_id)
        ]
        labels = await blog_labels(self.bot)
        shown_query = limits.cut(query, 100)
        if not found:
            await reply(interaction, content=t("no_results", locale, query=shown_query), ephemeral=True)
            return
        title, header = t("search_title", locale, query=shown_query), t("search_count", locale, count=len(found))
        page_count = -(-len(found) // PAGE_SIZE)

        async def render(index: int) -> discord.Embed:
            # Snippets need each post's text: read and cut only the page being shown.
            shown = await self.bot.store.posts_by_ids(found[index * PAGE_SIZE : (index + 1) * PAGE_SIZE])
            texts = await self.bot.store.texts([post.id for post in shown])
            entries = [
                post_entry(
                    post,
                    snippet(texts.get(post.id, ""), query),
                    tz=self.bot.timezone,
                    locale=locale,
                    blog=label_of(labels, post),
                )
                for post in shown
            ]
            return page_embed(title, entries, locale, number=index + 1, pages=page_count, header=header)

        await Paginator(
            page_count, render, interaction.user.id, locale, self.bot.paginator_timeout, self.bot.clock
        ).send(interaction)


async def setup(bot: KijiBot) -> None:
    await bot.add_cog(SearchCog(bot))
