"""/subscribe, /unsubscribe, /subscriptions, /resume: server admins choose where new posts are announced."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.content import limits
from bot.content.templates import MAX_TEMPLATE, Template, TemplateError
from bot.content.textnorm import normalize_key
from bot.discord.announcement import DEFAULT_LAYOUT, Announcement, AnnouncementStyle
from bot.discord.announcer import Announcer, channel_kind, describe_pause, missing_permissions
from bot.discord.blogs import blog_choices, blog_filter, blog_labels, drop_blog_option
from bot.discord.client import KijiBot
from bot.discord.digests import DIGEST_KINDS, describe_schedule
from bot.discord.i18n import EN, WEEKDAYS, format_date, permission_names, t
from bot.discord.options import Within
from bot.discord.ui import EMBED_COLOUR, fit_embed, reply
from bot.discord.webhook_delivery import own_webhook
from bot.models import Placement
from bot.services.lookup import parse_id, tag_choices

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BACKFILL = 10
# Room for the filters in /subscribe's reply, leaving the rest of its 2000 characters for the
# sentence around them, the backfill note and the preview line.
FILTER_ECHO = 1500


def admin_command() -> Callable[[T], T]:
    """Manage Server, both as Discord's default (hides the command) and checked at run time.

    Server owners can re-grant commands to anyone in Integrations settings, so the default
    alone is not a guarantee; the runtime check is.
    """

    def decorator(func: T) -> T:
        func = app_commands.guild_only()(func)  # type: ignore[arg-type]
        func = app_commands.default_permissions(manage_guild=True)(func)
        return app_commands.checks.has_permissions(manage_guild=True)(func)  # type: ignore[return-value]

    return decorator


def split_terms(raw: str | None) -> list[str]:
    """Tags/categories typed as "AI, LLM" or "AI LLM"."""
    if not raw:
        return []
    return [part for part in raw.replace("、", ",").replace(",", " ").split() if part]


def default_forum_tag(
    forum: discord.ForumChannel, typed: str | None, filters: list[str], locale: str
) -> tuple[str | None, int | None]:
    """(a refusal, or None; the default tag's id) for `forum_tag` as typed (an id from autocomplete, or a name).

    A forum that requires a tag takes a subscription without a default only when every post it
    can announce is sure to match one of the forum's tags: it is filtered, and every filter names
    one of them. Otherwise some post would be refused by Discord and the subscription paused.
    """
    names = ", ".join(tag.name for tag in forum.available_tags) or "-"
    chosen = None
    if typed:
        key = normalize_key(typed)
        chosen = next((tag for tag in forum.available_tags if str(tag.id) == typed.strip()), None)
        chosen = chosen or next((tag for tag in forum.available_tags if normalize_key(tag.name) == key), None)
        if chosen is None:
            return t("sub.unknown_forum_tag", locale, tag=limits.cut(typed, 100), names=limits.cut(names, 1000)), None
    if chosen is None and forum.flags.require_tag:
        keys = {normalize_key(tag.name) for tag in forum.available_tags}
        if not filters or any(normalize_key(term) not in keys for term in filters):
            return t("sub.tag_required", locale, channel=forum.mention, names=limits.cut(names, 1000)), None
    return None, chosen.id if chosen else None


async def refuse_style(interaction: discord.Interaction, error: TemplateError) -> None:
    """A template, layout or time zone that cannot be used: the reason, and a word that nothing changed."""
    reason = limits.cut(str(error), FILTER_ECHO)
    await reply(interaction, content=t("sub.bad_style", interaction.locale, reason=reason), ephemeral=True)


class AnnouncementsCog(commands.Cog):
    """The commands only: the bot itself runs the post watcher and the announcer."""

    def __init__(self, bot: KijiBot) -> None:
        self.bot = bot
        drop_blog_option(self, bot)

    async def blog_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await blog_choices(self.bot, current)

    @property
    def announcer(self) -> Announcer:
        return self.bot.announcer

    async def tags_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        # Autocomplete the last term of a space/comma separated list.
        head, _, last = current.rpartition(" ")
        prefix = (head + " ") if head else ""
        return [
            app_commands.Choice(name=limits.cut(prefix + value, limits.CHOICE_NAME), value=prefix + value)
            for _, value in await tag_choices(self.bot.store, last)
            if len(prefix + value) <= limits.CHOICE_VALUE
        ]

    async def forum_tag_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The tags of the forum chosen in the `channel` option (value: the tag's id)."""
        chosen = getattr(interaction.namespace, "channel", None)
        if interaction.guild is None or chosen is None or not interaction.permissions.manage_guild:
            return []
        forum = interaction.guild.get_channel(chosen.id)
        if not isinstance(forum, discord.ForumChannel):
            return []
        typed = normalize_key(current)
        return [
            app_commands.Choice(name=limits.cut(tag.name, limits.CHOICE_NAME), value=str(tag.id))
            for tag in forum.available_tags
            if typed in normalize_key(tag.name)
        ][: limits.CHOICES]

    @app_commands.command(name=_("subscribe"), description=_("Announce new posts in a channel"))
    @app_commands.describe(
        channel=_("Where to announce (text, announcement or forum channel)"),
        tags=_("Only posts with any of these tags (space separated)"),
        categories=_("Only posts in any of these categories (space separated)"),
        mention_role=_("A role to mention with each announcement"),
        backfill=_("Also post this many of the latest matching posts now (0-10)"),
        blog=_("Only posts from this blog"),
        template=_("Message text with {title}, {url}, {summary}, {date}, {tags}, {role}…"),
        layout=_("How each post looks: embed, card or plain text"),
        timezone=_("Time zone of {date}, e.g. Asia/Tokyo (default: the blog's)"),
        delivery=_("Sent by Kiji, or by a webhook with the blog's name and icon (needs Manage Webhooks)"),
        thread=_("Open a thread on each announcement (text and announcement channels)"),
        thread_name=_("The thread's or forum post's name, e.g. {title} (the default)"),
        forum_tag=_("Forum tag for posts none of whose tags match the forum's"),
        digest=_("One message a day or a week listing the new posts, instead of one per post"),
        digest_hour=_("The hour the digest goes out (0-23, in the time zone above)"),
        digest_weekday=_("The weekday a weekly digest goes out"),
    )
    @app_commands.choices(
        layout=[
            app_commands.Choice(name=_("Embed"), value="embed"),
            app_commands.Choice(name=_("Card"), value="card"),
            app_commands.Choice(name=_("Plain text"), value="text"),
        ],
        delivery=[
            app_commands.Choice(name=_("Kiji"), value="bot"),
            app_commands.Choice(name=_("Webhook, as the blog"), value="webhook"),
        ],
        digest=[app_commands.Choice(name=_(kind.capitalize()), value=kind) for kind in DIGEST_KINDS],
        digest_weekday=[app_commands.Choice(name=_(day), value=number) for number, day in enumerate(WEEKDAYS[EN])],
    )
    @app_commands.autocomplete(tags=tags_autocomplete, blog=blog_autocomplete, forum_tag=forum_tag_autocomplete)
    @admin_command()
    async def subscribe(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | discord.ForumChannel,
        tags: str | None = None,
        categories: str | None = None,
        mention_role: discord.Role | None = None,
        backfill: app_commands.Transform[int, Within(0, MAX_BACKFILL)] = 0,
        blog: str | None = None,
        template: app_commands.Range[str, 1, MAX_TEMPLATE] | None = None,
        layout: str = DEFAULT_LAYOUT,
        timezone: str | None = None,
        delivery: str = "bot",
        thread: bool = False,
        thread_name: app_commands.Range[str, 1, MAX_TEMPLATE] | None = None,
        forum_tag: str | None = None,
        digest: str = "off",
        digest_hour: app_commands.Transform[int, Within(0, 23)] = 9,
        digest_weekday: int = 0,
    ) -> None:
        assert interaction.guild is not None
        locale = interaction.locale
        try:
            style = AnnouncementStyle.of(layout, template, timezone)
            if thread_name:
                Template.parse(thread_name)
        except TemplateError as exc:
            await refuse_style(interaction, exc)
            return
        go_on, source_id = await blog_filter(self.bot, interaction, blog)
        if not go_on:
            return
        resolved = interaction.guild.get_channel(channel.id) or channel
        kind = channel_kind(resolved)
        if kind is None:
            await reply(interaction, content=t("sub.wrong_kind", locale), ephemeral=True)
            return
        if delivery == "webhook" and kind == "forum":
            await reply(interaction, content=t("sub.webhook_not_in_forum", locale), ephemeral=True)
            return
        thread = thread and kind != "forum"  # a forum post is a thread already
        missing = missing_permissions(resolved, interaction.guild.me, kind, delivery, thread)  # type: ignore[arg-type]
        if missing:
            text = t("sub.missing", locale, names=permission_names(missing, str(locale)), channel=resolved.mention)
            if delivery == "webhook" and {"Manage Webhooks", "Read Message History"} & set(missing):
                text += t("sub.webhook_needs", locale)
            await reply(interaction, content=text, ephemeral=True)
            return
        if digest != "off" and kind == "forum":
            await reply(interaction, content=t("sub.digest_in_forum", locale), ephemeral=True)
            return
        tag_list, category_list = split_terms(tags), split_terms(categories)
        forum_tag_id = None
        if isinstance(resolved, discord.ForumChannel):
            refusal, forum_tag_id = default_forum_tag(resolved, forum_tag, [*tag_list, *category_list], str(locale))
            if refusal:
                await reply(interaction, content=refusal, ephemeral=True)
                return
        # The preview first: if it cannot be made, or the template gives a message Discord would
        # refuse, nothing is subscribed.
        try:
            preview = await self.preview(interaction, source_id, style, mention_role)
        except TemplateError as exc:
            await refuse_style(interaction, exc)
            return
        # The embed layout's preview fits in the reply; a card or a text is its own message.
        embeds = [preview.embed] if preview is not None and preview.embed is not None else []
        previous = await self.bot.store.subscription_for_channel(resolved.id)
        existed = previous is not None
        webhook_id = None
        if delivery == "webhook":
            assert isinstance(resolved, discord.TextChannel)
            # Made (or found) now, while the admin is here to hear if Discord refuses it.
            webhook_id = (await own_webhook(resolved, self.bot.user.id if self.bot.user else 0)).id
        placement = Placement(delivery, webhook_id, thread, thread_name, forum_tag_id)
        subscription = await self.bot.store.subscribe(
            interaction.guild.id,
            resolved.id,
            kind,
            tags=tag_list,
            categories=category_list,
            mention_role_id=mention_role.id if mention_role else None,
            created_by=interaction.user.id,
            source_id=source_id,
            layout=style.layout,
            template=template,
            timezone=timezone,
            placement=placement,
            digest=(digest if digest in DIGEST_KINDS else "off", digest_hour, digest_weekday % 7),
        )
        queued = await self.bot.store.backfill(subscription.id, backfill)
        log.info(
            "guild %d subscribed channel %d (tags=%s categories=%s role=%s source=%s backfill=%d)",
            interaction.guild.id,
            resolved.id,
            subscription.tags,
            subscription.categories,
            subscription.mention_role_id,
            subscription.source_id,
            queued,
        )
        labels = await blog_labels(self.bot)
        shown_blog = labels.get(source_id) if source_id is not None else None
        filters = ", ".join([*([shown_blog] if shown_blog else []), *tag_list, *category_list])
        filters = filters or t("sub.every_post", locale)
        # Options may carry up to 6000 characters; the reply may not: echo as much as fits.
        text = t("sub.done", locale, filters=limits.cut(filters, FILTER_ECHO), channel=resolved.mention)
        if queued and subscription.digest == "off":
            text += t("sub.backfill", locale, count=queued)
        if delivery == "webhook":
            text += t("sub.as_blog", locale)
        if subscription.digest != "off":
            when = describe_schedule(subscription, style.timezone or self.bot.timezone, str(locale))
            text += t("sub.digest", locale, when=when)
        if preview is not None:
            text += t("sub.preview", locale)
        try:
            await reply(interaction, content=text, embeds=embeds, ephemeral=True)
            if preview is not None and not embeds:
                await interaction.followup.send(ephemeral=True, **preview.send_kwargs())
        except discord.HTTPException:
            # Discord refused the reply: the admin is told something went wrong, so a new
            # subscription must not stay behind their back.
            if not existed:
                await self.bot.store.unsubscribe(interaction.guild.id, resolved.id)
            raise
        self.announcer.wake()
        self.bot.digests.wake()  # its next period may end sooner than the scheduler's sleep

    async def preview(
        self,
        interaction: discord.Interaction,
        source_id: int | None,
        style: AnnouncementStyle,
        role: discord.Role | None,
    ) -> Announcement | None:
        """The latest post (of the blog followed) as the server will see it announced, in the server's language.

        Rendered strictly: a template whose message Discord would refuse raises TemplateError.
        """
        assert interaction.guild is not None
        sample = await self.bot.store.latest(1, source_id=source_id)
        if not sample:
            return None
        if self.bot.summaries.may_be_slow:  # the preview's summary may take the model seconds
            await interaction.response.defer(ephemeral=True, thinking=True)
        server_locale = str(interaction.guild.preferred_locale)
        role_id = role.id if role else None
        return await self.bot.render_announcement(sample[0], style, server_locale, role_id, strict=True)

    async def subscription_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """This server's subscriptions by channel, deleted channels included (value: the channel id)."""
        if interaction.guild is None or not interaction.permissions.manage_guild:
            return []  # autocomplete runs no command checks: list nothing to those who may not act
        typed = current.strip().lstrip("#").casefold()
        choices = []
        for subscription in await self.bot.store.subscriptions(interaction.guild.id):
            found = interaction.guild.get_channel(subscription.channel_id)
            if found is not None:
                name = f"#{found.name}"
            else:
                name = t("sub.deleted_channel", interaction.locale, id=subscription.channel_id)
            if typed in name.casefold() or typed in str(subscription.channel_id):
                value = str(subscription.channel_id)
                choices.append(app_commands.Choice(name=limits.cut(name, limits.CHOICE_NAME), value=value))
        return choices[: limits.CHOICES]

    @app_commands.command(name=_("unsubscribe"), description=_("Stop announcing new posts in a channel"))
    @app_commands.describe(
        channel=_("The channel to stop announcing in"),
        subscription=_("Or the subscription, also one whose channel was deleted"),
    )
    @app_commands.autocomplete(subscription=subscription_autocomplete)
    @admin_command()
    async def unsubscribe(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | discord.ForumChannel | None = None,
        subscription: str | None = None,
    ) -> None:
        assert interaction.guild is not None
        typed = (subscription or "").strip().removeprefix("<#").removesuffix(">")
        if channel is not None:
            channel_id = channel.id
        elif (typed_id := parse_id(typed)) is not None:
            channel_id = typed_id
        else:
            await reply(interaction, content=t("sub.pick_one", interaction.locale), ephemeral=True)
            return
        removed = await self.bot.store.unsubscribe(interaction.guild.id, channel_id)
        key = "sub.stopped" if removed else "sub.not_subscribed"
        await reply(interaction, content=t(key, interaction.locale, channel=f"<#{channel_id}>"), ephemeral=True)

    @app_commands.command(name=_("resume"), description=_("Resume a paused subscription after fixing it"))
    @app_commands.describe(channel=_("The paused channel"))
    @admin_command()
    async def resume(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.ForumChannel
    ) -> None:
        assert interaction.guild is not None
        resumed = await self.bot.store.resume_subscription(interaction.guild.id, channel.id)
        key = "sub.resumed" if resumed else "sub.not_subscribed"
        await reply(interaction, content=t(key, interaction.locale, channel=channel.mention), ephemeral=True)
        self.announcer.wake()

    @app_commands.command(name=_("subscriptions"), description=_("List this server's announcement channels"))
    @admin_command()
    async def subscriptions(self, interaction: discord.Interaction) -> None:
        assert interaction.guild is not None
        locale = interaction.locale
        subscriptions = await self.bot.store.subscriptions(interaction.guild.id)
        if not subscriptions:
            await reply(interaction, content=t("sub.none", locale), ephemeral=True)
            return
        embed = discord.Embed(title=t("sub.title", locale), colour=EMBED_COLOUR)
        labels = await blog_labels(self.bot)
        for subscription in subscriptions[: limits.EMBED_FIELDS]:
            blog_label = labels.get(subscription.source_id) if subscription.source_id is not None else None
            filters = ", ".join([*([blog_label] if blog_label else []), *subscription.tags, *subscription.categories])
            filters = filters or t("sub.all_posts", locale)
            if subscription.active:
                state = t("sub.active", locale)
            else:
                state = t("sub.paused", locale, why=describe_pause(subscription, self.bot.timezone, str(locale)))
            if subscription.last_delivery_at:
                last = format_date(subscription.last_delivery_at, self.bot.timezone, str(locale))
            else:
                last = t("sub.never_delivered", locale)
            lines = [
                t("sub.state", locale, value=state),
                t("sub.filters", locale, value=filters),
                t("sub.last", locale, value=last),
            ]
            if subscription.mention_role_id:
                lines.append(t("sub.mentions", locale, value=f"<@&{subscription.mention_role_id}>"))
            if subscription.layout != DEFAULT_LAYOUT or subscription.template:
                lines.append(t("sub.looks", locale, layout=subscription.layout))
            if subscription.digest != "off":
                zone = self.bot.digests.timezone_of(subscription)
                lines.append(t("sub.digest_line", locale, when=describe_schedule(subscription, zone, str(locale))))
            if subscription.template:
                # As code, so the admin sees the braces they typed and nothing in it renders or pings.
                shown = limits.cut(subscription.template.replace("`", "ˋ"), 200)
                lines.append(t("sub.template", locale, value=f"`{shown}`"))
            if subscription.delivery == "webhook":
                lines.append(t("sub.by_webhook", locale))
            if subscription.thread:
                lines.append(t("sub.with_threads", locale))
            found = interaction.guild.get_channel(subscription.channel_id)
            name = f"#{found.name}" if found else f"#{subscription.channel_id}"
            embed.add_field(name=name, value="\n".join(lines), inline=False)
        await reply(interaction, embed=fit_embed(embed), ephemeral=True)


async def setup(bot: KijiBot) -> None:
    await bot.add_cog(AnnouncementsCog(bot))
