"""Discord presentation shared by the cogs: post embeds, list pages, the paginator.

Every builder cuts to Discord's limits (see `bot.content.limits`) so a long title or summary
shortens with an ellipsis instead of making Discord reject the reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from zoneinfo import ZoneInfo

import discord

from bot.clock import SYSTEM_CLOCK, Clock
from bot.content import limits
from bot.discord.i18n import format_date, t
from bot.discord.reach import must_reply_privately
from bot.models import Post
from bot.services.lookup import suggest_tags, suggest_titles
from bot.services.summaries import ShownSummary
from bot.store import KijiStore

log = logging.getLogger(__name__)

EMBED_COLOUR = discord.Colour(0x3B82F6)
PAGE_SIZE = 10
# How long page buttons stay usable; after that they are disabled in place.
PAGINATOR_TIMEOUT = 180.0


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Cut every part of `embed` to its limit, then the description until the total fits.

    A link Discord would refuse is dropped: the embed still shows, unlinked.
    """
    if embed.url and not fits_link(embed.url, limits.EMBED_URL):
        embed.url = None
    if embed.title:
        embed.title = limits.cut(embed.title, limits.EMBED_TITLE)
    if embed.description:
        embed.description = limits.cut(embed.description, limits.EMBED_DESCRIPTION)
    if embed.footer.text:
        embed.set_footer(text=limits.cut(embed.footer.text, limits.EMBED_FOOTER), icon_url=embed.footer.icon_url)
    if embed.author.name:
        embed.set_author(name=limits.cut(embed.author.name, limits.EMBED_AUTHOR), url=embed.author.url)
    fields = embed.fields[: limits.EMBED_FIELDS]
    embed.clear_fields()
    for field in fields:
        embed.add_field(
            name=limits.cut(field.name or "\u200b", limits.EMBED_FIELD_NAME),
            value=limits.cut(field.value or "\u200b", limits.EMBED_FIELD_VALUE),
            inline=field.inline,
        )
    excess = len(embed) - limits.EMBED_TOTAL
    if excess > 0 and embed.description:
        embed.description = limits.cut(embed.description, max(1, len(embed.description) - excess))
    # Still too long (many long fields): drop fields from the end, the least important first.
    while len(embed) > limits.EMBED_TOTAL and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    return embed


def escape_link_text(text: str) -> str:
    """Text safe inside a Markdown link label: no formatting, no bracket that ends it early."""
    return discord.utils.escape_markdown(text).replace("[", "［").replace("]", "］")


def summary_parts(shown: ShownSummary, locale: str | None) -> tuple[str, str]:
    """(embed description, footer saying where the summary came from) in the reader's language.

    The author's own abstract, when the post has one, comes first under its own label, and
    Kiji's summary after it under Kiji's: a reader always knows who wrote which.
    """
    footer = t(shown.source, locale, model=shown.model or "")
    if not shown.author:
        text = limits.cut(shown.text, limits.EMBED_DESCRIPTION) if shown.text else t("no_summary", locale)
        return text, footer
    # the description's one limit, shared: the author's abstract (short on this blog) at most half
    half = limits.EMBED_DESCRIPTION // 2 - 40
    author = f"**{t('summary_label.author', locale)}**\n{limits.cut(discord.utils.escape_markdown(shown.author), half)}"
    if not shown.text:
        return author, footer
    own = f"\n\n**{t('summary_label.kiji', locale)}**\n"
    return author + own + limits.cut(shown.text, limits.EMBED_DESCRIPTION - len(author) - len(own)), footer


def post_embed(
    post: Post,
    summary: str,
    footer: str,
    *,
    tz: ZoneInfo,
    locale: str | None,
    blog: str | None = None,
) -> discord.Embed:
    """The card for one post: linked title, summary, date, author, tags and reading time (and its blog, if given).

    Everything in it comes from the post's file and is cut to Discord's limits; a link too
    long for Discord (a long non-ASCII slug, percent-encoded) is left out, not the reply.
    """
    embed = discord.Embed(
        title=post.title,
        url=post.abs_url if fits_link(post.abs_url, limits.EMBED_URL) else None,
        description=summary,
        colour=EMBED_COLOUR,
    )
    if blog:
        embed.add_field(name=t("about_blog", locale), value=blog, inline=True)
    embed.add_field(name=t("published", locale), value=format_date(post.date_utc, tz, locale), inline=True)
    if post.author:
        embed.add_field(name=t("author", locale), value=post.author, inline=True)
    embed.add_field(name=t("reading", locale), value=t("reading_time", locale, minutes=post.reading_time), inline=True)
    if post.tags:
        # Whole tags only: a tag cut in the middle would leave its `code` span open.
        tags = [f"`{limits.cut(tag, limits.EMBED_FIELD_VALUE - 2)}`" for tag in post.tags]
        embed.add_field(name=t("tags", locale), value=limits.joined(tags, limits.EMBED_FIELD_VALUE), inline=False)
    embed.set_footer(text=footer)
    if post.image:  # an absolute http(s) URL within Discord's 2,048 (see bot.content.images)
        embed.set_thumbnail(url=post.image)
    return fit_embed(embed)


def is_absolute(url: str) -> bool:
    """Discord accepts only absolute http(s) links; a posts folder without KIJI_SITE_URL has none."""
    return url.startswith(("https://", "http://"))


def fits_link(url: str, limit: int) -> bool:
    """Whether `url` can be sent as a link where Discord allows `limit` characters."""
    return is_absolute(url) and len(url) <= limit


def read_button_view(post: Post, locale: str | None) -> discord.ui.View | None:
    """A link button to the article, or None when there is no link Discord would take.

    Link buttons need no handler and never expire. Discord refuses a button URL over 512
    characters, and with it the whole reply; a long non-ASCII slug gets there once
    percent-encoded. An empty view would send an empty component list, which Discord
    refuses too.
    """
    if not fits_link(post.abs_url, limits.BUTTON_URL):
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            style=discord.ButtonStyle.link,
            label=limits.cut(t("read_article", locale), limits.BUTTON_LABEL),
            url=post.abs_url,
        )
    )
    return view


def post_entry(post: Post, gist: str, *, tz: ZoneInfo, locale: str | None, blog: str | None = None) -> str:
    """One line of a post list: linked title, date (and blog, if given), then a one-line gist."""
    title = escape_link_text(limits.cut(post.title, 150))
    linked = f"[{title}]({post.abs_url})" if fits_link(post.abs_url, limits.LIST_LINK) else title
    line = f"**{linked}** — {format_date(post.date_utc, tz, locale)}"
    if blog:
        line += f" · {discord.utils.escape_markdown(limits.cut(limits.one_line(blog), 60))}"
    gist = limits.cut(limits.one_line(gist), 160)
    return f"{line}\n{discord.utils.escape_markdown(gist)}" if gist else line


def page_embed(
    title: str, entries: Sequence[str], locale: str | None, *, number: int, pages: int, header: str = ""
) -> discord.Embed:
    """One page of a list, with "page x/y" in the footer."""
    body = "\n\n".join(entries)
    embed = discord.Embed(title=title, description=(header + "\n\n" + body).strip(), colour=EMBED_COLOUR)
    embed.set_footer(text=t("page", locale, page=number, pages=pages))
    return fit_embed(embed)


def list_pages(title: str, entries: Sequence[str], locale: str | None, header: str = "") -> list[discord.Embed]:
    """Embeds of at most PAGE_SIZE entries each."""
    chunks = [entries[i : i + PAGE_SIZE] for i in range(0, len(entries), PAGE_SIZE)] or [[]]
    return [
        page_embed(title, chunk, locale, number=number, pages=len(chunks), header=header)
        for number, chunk in enumerate(chunks, start=1)
    ]


PageRenderer = Callable[[int], Awaitable[discord.Embed]]


class Paginator(discord.ui.View):
    """◀ ▶ buttons over a list's pages; only the person who asked may turn them.

    Pages are rendered when they are shown, so a tag with thousands of posts costs one
    page of work per click rather than all of them up front. The time-out (from the last
    click) runs on the injected clock rather than discord.py's own timer, which reads the
    real time: a test moves the clock instead of waiting minutes.
    """

    def __init__(
        self,
        page_count: int,
        render: PageRenderer,
        owner_id: int,
        locale: str | None,
        timeout: float = PAGINATOR_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ):
        super().__init__(timeout=None)
        self.idle_timeout = timeout
        self.clock = clock
        self._expires_at = clock.monotonic() + timeout
        self._expiry: asyncio.Task[None] | None = None
        self.page_count = max(1, page_count)
        self.render = render
        self.owner_id = owner_id
        self.locale = locale
        self.index = 0
        self.interaction: discord.Interaction | None = None
        self._sync_buttons()

    @classmethod
    def of_pages(
        cls,
        pages: Sequence[discord.Embed],
        owner_id: int,
        locale: str | None,
        timeout: float = PAGINATOR_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Paginator:
        """A paginator over pages built in advance (short lists)."""
        built = list(pages)

        async def render(index: int) -> discord.Embed:
            return built[index]

        return cls(len(built), render, owner_id, locale, timeout, clock)

    def _sync_buttons(self) -> None:
        self.previous_page.disabled = self.index == 0
        self.next_page.disabled = self.index >= self.page_count - 1

    async def send(self, interaction: discord.Interaction, *, ephemeral: bool = False) -> None:
        """Answer `interaction` with the first page (buttons only when there is more than one)."""
        self.interaction = interaction
        first = await self.render(0)
        if self.page_count <= 1:
            self.stop()
            await reply(interaction, embed=first, ephemeral=ephemeral)
            return
        await reply(interaction, embed=first, view=self, ephemeral=ephemeral)
        self._expiry = asyncio.create_task(self._expire(), name="kiji-paginator-timeout")

    async def _expire(self) -> None:
        """Time out once `idle_timeout` passed on the clock without a click, as discord.py's views do."""
        while (remaining := self._expires_at - self.clock.monotonic()) > 0:
            await self.clock.sleep(remaining)
        if not self.is_finished():
            self.stop()
            await self.on_timeout()

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.index = min(self.page_count - 1, max(0, self.index + step))
        self._sync_buttons()
        await interaction.response.edit_message(embed=await self.render(self.index), view=self)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        self._expires_at = self.clock.monotonic() + self.idle_timeout  # any click restarts the time-out
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(t("not_your_buttons", interaction.locale), ephemeral=True)
        return False

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary)
    async def previous_page(self, interaction: discord.Interaction, _: discord.ui.Button[Paginator]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary)
    async def next_page(self, interaction: discord.Interaction, _: discord.ui.Button[Paginator]) -> None:
        await self._turn(interaction, +1)

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        if self.interaction is not None:
            try:
                await self.interaction.edit_original_response(view=self)
            except discord.HTTPException as exc:  # the message may be gone; nothing to disable then
                log.debug("could not disable paginator buttons: %s", exc)


async def unknown_post_reply(store: KijiStore, interaction: discord.Interaction, query: str) -> None:
    titles = [title for _, title in await suggest_titles(store, query)]
    await _not_found_reply(interaction, "unknown_post", query, titles)


async def unknown_tag_reply(store: KijiStore, interaction: discord.Interaction, query: str) -> None:
    await _not_found_reply(interaction, "unknown_tag", query, await suggest_tags(store, query))


async def _not_found_reply(
    interaction: discord.Interaction, message_key: str, query: str, suggestions: Sequence[str]
) -> None:
    """Ephemeral "no such post/tag" with the fuzzy "did you mean" suggestions under it."""
    lines = [t(message_key, interaction.locale, query=limits.cut(query, 100))]
    if suggestions:
        lines.append(t("did_you_mean", interaction.locale))
        lines.extend(f"• {discord.utils.escape_markdown(name)}" for name in suggestions)
    await reply(interaction, content=limits.cut("\n".join(lines), limits.CONTENT), ephemeral=True)


async def reply(interaction: discord.Interaction, **kwargs: object) -> None:
    """Answer whether or not the interaction was deferred first.

    A deferred reply ("Kiji is thinking…") is replaced by editing it; its visibility was
    fixed when it was deferred, so `ephemeral` no longer applies. `view=None` (nothing to
    attach, see `read_button_view`) sends no components at all. Where Discord would show the
    answer to the invoking user only (`must_reply_privately`), it is sent ephemeral.
    """
    if kwargs.get("view", ...) is None:
        del kwargs["view"]
    if must_reply_privately(interaction):
        kwargs["ephemeral"] = True
    if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
        kwargs.pop("ephemeral", None)
        await interaction.edit_original_response(**kwargs)  # type: ignore[arg-type]
    elif interaction.response.is_done():
        await interaction.followup.send(**kwargs)  # type: ignore[arg-type]
    else:
        await interaction.response.send_message(**kwargs)  # type: ignore[arg-type]


async def defer_thinking(interaction: discord.Interaction) -> None:
    """Show "Kiji is thinking…" before a slow answer, ephemeral where the answer will have to be."""
    await interaction.response.defer(thinking=True, ephemeral=must_reply_privately(interaction))
