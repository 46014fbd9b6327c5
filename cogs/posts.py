"""/summary, /latest, /random and /about: reading single posts and what the bot serves."""

from __future__ import annotations

import logging
from datetime import datetime

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.content import limits
from bot.content.related import rank_related
from bot.discord.blogs import (
    blog_choices,
    blog_filter,
    blog_labels,
    configured_blogs,
    drop_blog_option,
    label_of,
    typed_blog_id,
)
from bot.discord.client import KijiBot
from bot.discord.i18n import format_date, t
from bot.discord.options import Within
from bot.discord.reach import anywhere
from bot.discord.ui import (
    EMBED_COLOUR,
    defer_thinking,
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
from bot.models import BlogSource, Post
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
        drop_blog_option(self, bot)

    async def post_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        blog = await typed_blog_id(self.bot, interaction)
        return [app_commands.Choice(name=n, value=v) for n, v in await title_choices(self.bot.store, current, blog)]

    async def blog_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await blog_choices(self.bot, current)

    async def summary_embed(self, post: Post, length: str, locale: str) -> discord.Embed:
        summary, footer = summary_parts(await self.bot.summaries.shown(post, length), locale)
        blog = label_of(await blog_labels(self.bot), post)
        return post_embed(post, summary, footer, tz=self.bot.timezone, locale=locale, blog=blog)

    @anywhere
    @app_commands.command(name=_("summary"), description=_("Summarise a post"))
    @app_commands.describe(
        post=_("The post (type part of its title)"),
        length=_("How long the summary should be"),
        blog=_("Only posts from this blog"),
    )
    @app_commands.choices(length=LENGTHS)
    @app_commands.autocomplete(post=post_autocomplete, blog=blog_autocomplete)
    async def summary(
        self,
        interaction: discord.Interaction,
        post: str,
        length: app_commands.Choice[str] | None = None,
        blog: str | None = None,
    ) -> None:
        go_on, source_id = await blog_filter(self.bot, interaction, blog)
        if not go_on:
            return
        found = await resolve_post(self.bot.store, post, source_id)
        if found is None:
            await unknown_post_reply(self.bot.store, interaction, post)
            return
        if self.bot.summaries.may_be_slow:
            await defer_thinking(interaction)
        embed = await self.summary_embed(found, length.value if length else "standard", interaction.locale)
        await reply(interaction, embed=embed, view=read_button_view(found, interaction.locale))

    @anywhere
    @app_commands.command(name=_("latest"), description=_("Show the newest posts"))
    @app_commands.describe(
        count=_("How many posts (1-10)"), tag=_("Only posts with this tag"), blog=_("Only posts from this blog")
    )
    @app_commands.autocomplete(blog=blog_autocomplete)
    async def latest(
        self,
        interaction: discord.Interaction,
        count: app_commands.Transform[int, Within(1, 10)] = 5,
        tag: str | None = None,
        blog: str | None = None,
    ) -> None:
        locale = interaction.locale
        go_on, source_id = await blog_filter(self.bot, interaction, blog)
        if not go_on:
            return
        if tag and await self.bot.store.tag_by_key(tag) is None:
            await unknown_tag_reply(self.bot.store, interaction, tag)
            return
        posts = await self.bot.store.latest(count, tag, source_id=source_id)
        if not posts:
            await reply(interaction, content=t("no_posts", locale), ephemeral=True)
            return
        title = t("latest_tag_title", locale, tag=tag) if tag else t("latest_title", locale)
        labels = await blog_labels(self.bot)
        entries = [post_entry(p, gist(p), tz=self.bot.timezone, locale=locale, blog=label_of(labels, p)) for p in posts]
        await reply(interaction, embed=list_pages(title, entries, locale)[0])

    @anywhere
    @app_commands.command(name=_("random"), description=_("Show a random post"))
    @app_commands.describe(tag=_("Only posts with this tag"), blog=_("Only posts from this blog"))
    @app_commands.autocomplete(blog=blog_autocomplete)
    async def random(self, interaction: discord.Interaction, tag: str | None = None, blog: str | None = None) -> None:
        go_on, source_id = await blog_filter(self.bot, interaction, blog)
        if not go_on:
            return
        if tag and await self.bot.store.tag_by_key(tag) is None:
            await unknown_tag_reply(self.bot.store, interaction, tag)
            return
        post = await self.bot.store.random_post(tag, source_id=source_id)
        if post is None:
            await reply(interaction, content=t("no_posts", interaction.locale), ephemeral=True)
            return
        if self.bot.summaries.may_be_slow:
            await defer_thinking(interaction)
        embed = await self.summary_embed(post, "short", interaction.locale)
        await reply(interaction, embed=embed, view=read_button_view(post, interaction.locale))

    @anywhere
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
        labels = await blog_labels(self.bot)
        entries = [
            post_entry(p, gist(p), tz=self.bot.timezone, locale=locale, blog=label_of(labels, p)) for p in related
        ]
        title = t("related_title", locale, title=limits.cut(found.title, 200))
        await reply(interaction, embed=list_pages(title, entries, locale)[0])

    @anywhere
    @app_commands.command(name=_("about"), description=_("What this bot serves"))
    async def about(self, interaction: discord.Interaction) -> None:
        locale = interaction.locale
        site = self.bot.sync.site  # the first blog as the sync service last read it
        posts, tags = await self.bot.store.counts()
        last = await self.bot.store.get_meta("last_ingest_at")
        blogs = await configured_blogs(self.bot)
        embed = discord.Embed(title=t("about_title", locale), colour=EMBED_COLOUR)
        if len(self.bot.sync.sources) <= 1:
            if site is not None:
                blog = site.title or site.url or str(site.root.name)
                link = (site.url + site.baseurl) if site.url else ""
                value = f"[{blog}]({link})" if link else blog
                if blogs and blogs[0].last_error:
                    value += "\n" + self._source_error(blogs[0], locale)
                embed.add_field(name=t("about_blog", locale), value=value, inline=False)
            elif blogs and blogs[0].last_error:
                embed.add_field(name=t("about_blog", locale), value=self._source_error(blogs[0], locale), inline=False)
        embed.add_field(name=t("about_posts", locale), value=str(posts))
        embed.add_field(name=t("about_tags", locale), value=str(tags))
        embed.add_field(
            name=t("about_ingest", locale),
            value=format_date(float(last), self.bot.timezone, locale) if last else t("never", locale),
        )
        embed.add_field(name=t("about_version", locale), value=f"Kiji {self.bot.version}")
        if len(self.bot.sync.sources) > 1:
            for blog in blogs:
                embed.add_field(name=limits.cut(blog.label, 200), value=self._source_lines(blog, locale), inline=False)
        embed.timestamp = datetime.now(self.bot.timezone)
        await reply(interaction, embed=fit_embed(embed))

    def _source_lines(self, blog: BlogSource, locale: str) -> str:
        """Where a blog is, how many posts it has, when it was last read and, if the last try failed, why."""
        updated = (
            format_date(blog.last_success_at, self.bot.timezone, locale) if blog.last_success_at else t("never", locale)
        )
        lines = [blog.url if blog.url else discord.utils.escape_markdown(blog.display)]
        lines.append(t("about_source", locale, posts=blog.posts, updated=updated))
        if blog.last_error:
            lines.append(self._source_error(blog, locale))
        return "\n".join(lines)

    def _source_error(self, blog: BlogSource, locale: str) -> str:
        when = format_date(blog.last_error_at or 0, self.bot.timezone, locale)
        error = discord.utils.escape_markdown(limits.cut(limits.one_line(blog.last_error or ""), 300))
        return t("about_source_error", locale, when=when, error=error)


async def setup(bot: KijiBot) -> None:
    await bot.add_cog(PostsCog(bot))
