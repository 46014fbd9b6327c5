"""/tag and /tags: browsing the blog by tag."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.content import limits
from bot.discord.blogs import blog_choices, blog_filter, blog_labels, drop_blog_option, label_of, typed_blog_id
from bot.discord.client import KijiBot
from bot.discord.i18n import t
from bot.discord.reach import anywhere
from bot.discord.ui import PAGE_SIZE, Paginator, list_pages, page_embed, post_entry, reply, unknown_tag_reply
from bot.services.lookup import gist, tag_choices


class TagsCog(commands.Cog):
    def __init__(self, bot: KijiBot) -> None:
        self.bot = bot
        drop_blog_option(self, bot)

    async def tag_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        blog = await typed_blog_id(self.bot, interaction)
        return [app_commands.Choice(name=n, value=v) for n, v in await tag_choices(self.bot.store, current, blog)]

    async def blog_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await blog_choices(self.bot, current)

    @anywhere
    @app_commands.command(name=_("tag"), description=_("List the posts with a tag"))
    @app_commands.describe(tag=_("The tag"), blog=_("Only posts from this blog"))
    @app_commands.autocomplete(tag=tag_autocomplete, blog=blog_autocomplete)
    async def tag(self, interaction: discord.Interaction, tag: str, blog: str | None = None) -> None:
        locale = interaction.locale
        go_on, source_id = await blog_filter(self.bot, interaction, blog)
        if not go_on:
            return
        name = await self.bot.store.tag_by_key(tag)
        if name is None:
            await unknown_tag_reply(self.bot.store, interaction, tag)
            return
        total = await self.bot.store.count_posts_by_tag(name, source_id=source_id)
        page_count = max(1, -(-total // PAGE_SIZE))
        title, header = t("tag_title", locale, tag=name), t("tag_count", locale, count=total)
        labels = await blog_labels(self.bot)

        async def render(index: int) -> discord.Embed:
            posts = await self.bot.store.posts_by_tag(name, PAGE_SIZE, offset=index * PAGE_SIZE, source_id=source_id)
            entries = [
                post_entry(p, gist(p), tz=self.bot.timezone, locale=locale, blog=label_of(labels, p)) for p in posts
            ]
            return page_embed(title, entries, locale, number=index + 1, pages=page_count, header=header)

        await Paginator(
            page_count, render, interaction.user.id, locale, self.bot.paginator_timeout, self.bot.clock
        ).send(interaction)

    @anywhere
    @app_commands.command(name=_("tags"), description=_("List every tag with its number of posts"))
    async def tags(self, interaction: discord.Interaction) -> None:
        locale = interaction.locale
        tags = await self.bot.store.tags()
        entries = [f"`{limits.cut(tag.name, 80)}` — {tag.count}" for tag in tags]
        if not entries:
            await reply(interaction, content=t("no_posts", locale), ephemeral=True)
            return
        pages = list_pages(t("tags_title", locale), entries, locale)
        for page in pages:  # a compact list: one tag per line rather than paragraphs
            page.description = (page.description or "").replace("\n\n", "\n")
        await Paginator.of_pages(pages, interaction.user.id, locale, self.bot.paginator_timeout, self.bot.clock).send(
            interaction
        )


async def setup(bot: KijiBot) -> None:
    await bot.add_cog(TagsCog(bot))
