"""The `blog` option of the reading commands and /subscribe, and how a result says which blog it is from.

With one blog the option would only be noise, so the commands lose it (`drop_blog_option`) and
results show no blog; with several, every command that lists or picks posts takes `blog`
(autocompleted from the configured blogs) and each result names its blog. Slash commands are
declared once on the cog classes; the option is removed per bot, from the cog's own copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import discord
from discord import app_commands
from discord.ext import commands

from bot.content import limits
from bot.content.textnorm import normalize_key
from bot.discord.i18n import t
from bot.discord.ui import reply
from bot.models import BlogSource, Post
from bot.services.lookup import parse_id

if TYPE_CHECKING:
    from bot.sources.base import Source
    from bot.store import KijiStore

OPTION = "blog"


class _ConfiguredIds(Protocol):
    @property
    def source_ids(self) -> Mapping[str, int]:
        """The store's id of each configured blog, by source name (empty until the sync started)."""
        ...


class BlogsBot(Protocol):
    """What the blog option needs of the bot: `KijiBot` has it, and imports this module (never the reverse)."""

    @property
    def sources(self) -> Sequence[Source]: ...

    @property
    def store(self) -> KijiStore: ...

    @property
    def sync(self) -> _ConfiguredIds: ...


def several_blogs(bot: BlogsBot) -> bool:
    return len(bot.sources) > 1


def drop_blog_option(cog: commands.Cog, bot: BlogsBot) -> None:
    """With one blog, take the `blog` option off the cog's commands (before they are added to the tree).

    discord.py has no public call for this; each cog instance holds its own copy of each
    command and of its parameter table, so the class and other bots are untouched.
    """
    if several_blogs(bot):
        return
    for command in cog.__cog_app_commands__:
        if isinstance(command, app_commands.Command):
            command._params.pop(OPTION, None)


async def configured_blogs(bot: BlogsBot) -> list[BlogSource]:
    """The store's rows of the blogs configured now, in configuration order (a source never read is absent)."""
    names = [source.name for source in bot.sources]
    known = {blog.name: blog for blog in await bot.store.sources()}
    return [known[name] for name in names if name in known]


async def blog_choices(bot: BlogsBot, typed: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: the configured blogs whose label or location contains what was typed."""
    key = normalize_key(typed)
    choices = []
    for blog in await configured_blogs(bot):
        if key in normalize_key(blog.label) or key in normalize_key(blog.display):
            name = limits.cut(f"{blog.label} ({blog.posts})", limits.CHOICE_NAME)
            choices.append(app_commands.Choice(name=name, value=str(blog.id)))
    return choices[: limits.CHOICES]


async def resolve_blog(bot: BlogsBot, value: str) -> BlogSource | None:
    """The blog `value` names: an autocomplete id, its title, its source name or where it comes from."""
    blogs = await configured_blogs(bot)
    value = value.strip()
    if (blog_id := parse_id(value)) is not None:
        for blog in blogs:
            if blog.id == blog_id:
                return blog
    key = normalize_key(value)
    for blog in blogs:
        if key in (normalize_key(blog.label), normalize_key(blog.name), normalize_key(blog.display)):
            return blog
    return None


async def blog_filter(bot: BlogsBot, interaction: discord.Interaction, value: str | None) -> tuple[bool, int | None]:
    """(go on, source id to filter by) for a command's `blog` value; an unknown blog is answered here."""
    if not value:
        return True, None
    blog = await resolve_blog(bot, value)
    if blog is None:
        names = ", ".join(b.label for b in await configured_blogs(bot))
        text = t("unknown_blog", interaction.locale, query=limits.cut(value, 100), names=limits.cut(names, 1500))
        await reply(interaction, content=text, ephemeral=True)
        return False, None
    return True, blog.id


# Put before the label of a blog whose posts the store holds but the configuration no longer names
# (before: results cut long labels at their end).
NOT_CONFIGURED = "(no longer configured) "


async def blog_labels(bot: BlogsBot) -> dict[int, str]:
    """source id → the blog's label, for results to say which blog a post is from; empty with one blog.

    A blog removed from the configuration keeps its stored posts, and they are still served
    (searched, listed, linked): deleting them would make every one of them new, and announced,
    if the blog came back. Its label says it is no longer configured, and it makes results name
    their blog even when only one is configured now, so its posts are never taken for the other's.
    """
    labels = await bot.store.source_labels()
    configured = set(bot.sync.source_ids.values())
    if not configured:  # not started yet: every stored blog is taken as configured
        configured = set(labels)
    removed = [source_id for source_id in labels if source_id not in configured]
    if not several_blogs(bot) and not removed:
        return {}
    for source_id in removed:
        labels[source_id] = NOT_CONFIGURED + labels[source_id]
    return labels


def label_of(labels: dict[int, str], post: Post) -> str | None:
    return labels.get(post.source_id)


async def typed_blog_id(bot: BlogsBot, interaction: discord.Interaction) -> int | None:
    """For another option's autocomplete: the blog already chosen in this command, if any."""
    value = getattr(interaction.namespace, OPTION, None)
    if not value:
        return None
    blog = await resolve_blog(bot, str(value))
    return blog.id if blog else None
