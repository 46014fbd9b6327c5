"""/summary, /latest, /random and /about: reading single posts and what the bot serves."""

from __future__ import annotations

import logging
from datetime import datetime

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.content.related import rank_related
from bot.discord import limits
from bot.discord.client import KijiBot
from bot.discord.i18n import format_date, t
from bot.discord.options import Within
from bot.discord.ui import (
    EMBED_COLOUR,
    fit_embed,
    list_pages,
    post_embed,
    post_entry,
    read_button_view,
    reply,
    summary_parts,
    unknown_post_reply,
    unknown_tag_reply,
)
from bot.models import Post
from bot.services.lookup import gist, resolve_post, title_choices

log = logging.getLogger(__name__)

LENGTHS = [
    app_commands.Choice(name=_("Short"), value="short"),
    app_commands.Choice(name=_("Standard"), value="standard"),
    app_commands.Choice(name=_("Long"), value="long"),
]


class PostsCog(commands.Cog):
    def __init__(self, bot: KijiBot) -> None:
        self.bot = bot

    async def post_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=v) for n, v in await title_choices(self.bot.store, current)]

    async def summary_embed(self, post: Post, length: str, locale: str) -> discord.Embed:
        summary, footer = summary_parts(await self.bot.summaries.shown(post, length), locale)
        return post_embed(post, summary, footer, tz=self.bot.timezone, locale=locale)

    @app_commands.command(name=_("summary"), description=_("Summarise a post"))
    @app_commands.describe(post=_("The post (type part of its title)"), length=_("How long the summary should be"))
    @app_commands.choices(length=LENGTHS)
    @app_commands.autocomplete(post=post_autocomplete)
    async def summary(
        self, interaction: discord.Interaction, post: str, length: app_commands.Choice[str] | None = None
    ) -> None:
        found = await resolve_post(self.bot.store, post)
        if found is None:
            await unknown_post_reply(self.bot.store, interaction, post)
            return
        if self.bot.summaries.may_be_slow:
            await interaction.response.defer(thinking=True)
        embed = await self.summary_embed(found, length.value if length else "standard", interaction.locale)
        await reply(interaction, embed=embed, view=read_button_view(found, interaction.locale))

    @app_commands.command(name=_("latest"), description=_("Show the newest posts"))
    @app_commands.describe(count=_("How many posts (1-10)"), tag=_("Only posts with this tag"))
    async def latest(
        self,
        interaction: discord.Interaction,
        count: app_commands.Transform[int, Within(1, 10)] = 5,
        tag: str | None = None,
    ) -> None:
        locale = interaction.locale
        if tag and await self.bot.store.tag_by_key(tag) is None:
            await unknown_tag_reply(self.bot.store, interaction, tag)
            return
        posts = await self.bot.store.latest(count, tag)
        if not posts:
            await reply(interaction, content=t("no_posts", locale), ephemeral=True)
            return
        title = t("latest_tag_title", locale, tag=tag) if tag else t("latest_title", locale)
        entries = [post_entry(p, gist(p), tz=self.bot.timezone, locale=locale) for p in posts]
        await reply(interaction, embed=list_pages(title, entries, locale)[0])

    @app_commands.command(name=_("random"), description=_("Show a random post"))
    @app_commands.describe(tag=_("Only posts with this tag"))
    async def random(self, interaction: discord.Interaction, tag: str | None = None) -> None:
        if tag and await self.bot.store.tag_by_key(tag) is None:
            await unknown_tag_reply(self.bot.store, interaction, tag)
            return
        post = await self.bot.store.random_post(tag)
        if post is None:
            await reply(interaction, content=t("no_posts", interaction.locale), ephemeral=True)
            return
        if self.bot.summaries.may_be_slow:
            await interaction.response.defer(thinking=True)
        embed = await self.summary_embed(post, "short", interaction.locale)
        await reply(interaction, embed=embed, view=read_button_view(post, interaction.locale))

    @app_commands.command(name=_("related"), description=_("Posts related to a post"))
    @app_commands.describe(post=_("The post (type part of its title)"))
    @app_commands.autocomplete(post=post_autocomplete)
    async def related(self, interaction: discord.Interaction, post: str) -> None:
        locale = interaction.locale
        found = await resolve_post(self.bot.store, post)
        if found is None:
            await unknown_post_reply(self.bot.store, interaction, post)
            return
        candidates = await self.bot.store.related_candidates(found.id)
        texts = await self.bot.store.texts([found.id, *(c.id for c in candidates)])
        related = rank_related(found, texts.get(found.id, ""), candidates, texts)
        if not related:
            await reply(interaction, content=t("no_related", locale), ephemeral=True)
            return
        entries = [post_entry(p, gist(p), tz=self.bot.timezone, locale=locale) for p in related]
        title = t("related_title", locale, title=limits.cut(found.title, 200))
        await reply(interaction, embed=list_pages(title, entries, locale)[0])

    @app_commands.command(name=_("about"), description=_("What this bot serves"))
    async def about(self, interaction: discord.Interaction) -> None:
        locale = interaction.locale
        site = self.bot.site
        posts, tags = await self.bot.store.counts()
        last = await self.bot.store.get_meta("last_ingest_at")
        embed = discord.Embed(title=t("about_title", locale), colour=EMBED_COLOUR)
        if site is not None:
            blog = site.title or site.url or str(site.root.name)
            link = (site.url + site.baseurl) if site.url else ""
            embed.add_field(name=t("about_blog", locale), value=f"[{blog}]({link})" if link else blog, inline=False)
        embed.add_field(name=t("about_posts", locale), value=str(posts))
        embed.add_field(name=t("about_tags", locale), value=str(tags))
        embed.add_field(
            name=t("about_ingest", locale),
            value=format_date(float(last), self.bot.timezone, locale) if last else t("never", locale),
        )
        embed.add_field(name=t("about_version", locale), value=f"Kiji {self.bot.version}")
        embed.timestamp = datetime.now(self.bot.timezone)
        await reply(interaction, embed=fit_embed(embed))


async def setup(bot: KijiBot) -> None:
    await bot.add_cog(PostsCog(bot))
