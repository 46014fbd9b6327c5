"""/search: full-text search over the blog, Japanese and English."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot import limits
from bot.client import KijiBot
from bot.i18n import t
from bot.snippets import snippet
from bot.ui import Paginator, list_pages, post_entry, reply

MAX_RESULTS = 100


class SearchCog(commands.Cog):
    def __init__(self, bot: KijiBot) -> None:
        self.bot = bot

    @app_commands.command(name=_("search"), description=_("Search the blog (Japanese or English)"))
    @app_commands.describe(query=_("Words to look for"))
    async def search(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 200]) -> None:
        locale = interaction.locale
        if not query.strip():
            await reply(interaction, content=t("empty_query", locale), ephemeral=True)
            return
        hits = await self.bot.store.search(query, MAX_RESULTS)
        shown_query = limits.cut(query, 100)
        if not hits:
            await reply(interaction, content=t("no_results", locale, query=shown_query), ephemeral=True)
            return
        texts = await self.bot.store.texts([hit.post.id for hit in hits])
        entries = [
            post_entry(hit.post, snippet(texts.get(hit.post.id, ""), query), tz=self.bot.timezone, locale=locale)
            for hit in hits
        ]
        header = t("search_count", locale, count=len(hits))
        pages = list_pages(t("search_title", locale, query=shown_query), entries, locale, header=header)
        await Paginator.of_pages(pages, interaction.user.id, locale, self.bot.paginator_timeout).send(interaction)


async def setup(bot: KijiBot) -> None:
    await bot.add_cog(SearchCog(bot))
