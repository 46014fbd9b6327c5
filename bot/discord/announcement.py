"""One announcement as Discord receives it: a subscription's template and layout applied to a post.

Three layouts: `embed` (the card Kiji always sent; a template, if set, is the message text above
it), `text` (the template alone, as the message's content), and `card` (Discord's Components V2:
a container with the linked title, the summary — beside the post's picture as a thumbnail, when
it has one — a line of details and a "Read" button; a template, if set, opens the container).
The same function builds the announcement, the `/subscribe` preview and `kiji render`, so what
an admin previews is what the channel gets.

Mentions: nothing from a post may ping anyone. Only `{role}` — the one role the admin chose —
is allowed to, through the message's allowed mentions; every other mention in the text stays
inert.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import discord

from bot.content import limits
from bot.content.templates import PostFields, Template, TemplateError
from bot.discord.i18n import format_date, t
from bot.discord.ui import EMBED_COLOUR, escape_link_text, fits_link, post_embed
from bot.models import Post

LAYOUTS = ("embed", "card", "text")
DEFAULT_LAYOUT = "embed"
# The text layout without a template of its own: what a plain feed bot would post.
DEFAULT_TEXT_TEMPLATE = "{role} **{title}**\n{summary}\n{url}"
# Discord counts every text display of a Components V2 message together.
CARD_TEXT_TOTAL = 4000
IS_COMPONENTS_V2 = 1 << 15
THUMBNAIL_DESCRIPTION = 1024  # a thumbnail's alt text

# (summary text, footer saying where it came from) for a post, a summary length and a locale.
Summarize = Callable[[Post, str, str], Awaitable[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class AnnouncementStyle:
    """How one subscription wants its posts to look."""

    layout: str = DEFAULT_LAYOUT
    template: Template | None = None
    timezone: ZoneInfo | None = None  # None: the blog's own

    @classmethod
    def of(cls, layout: str | None, template: str | None, timezone: str | None = None) -> AnnouncementStyle:
        """Check what an admin typed; raises TemplateError with the reason."""
        layout = layout or DEFAULT_LAYOUT
        if layout not in LAYOUTS:
            raise TemplateError(f"{layout!r} is not a layout; choose one of {', '.join(LAYOUTS)}")
        zone = None
        if timezone:
            try:
                zone = ZoneInfo(timezone)
            except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
                raise TemplateError(f"{timezone!r} is not a time zone name such as Asia/Tokyo or UTC") from exc
        return cls(layout, Template.parse(template) if template else None, zone)


@dataclass(frozen=True, slots=True)
class BlogIdentity:
    """Who a webhook announcement comes from: the blog's name and picture (None: the webhook's own)."""

    name: str
    avatar_url: str | None


@dataclass(frozen=True, slots=True)
class Announcement:
    """What is sent: exactly one of (content/embed) or a Components V2 view carries the post.

    `thread_name` names the thread opened on it (or the forum post); `sender`, when set, is who a
    webhook delivery sends it as.
    """

    content: str | None
    embed: discord.Embed | None
    view: discord.ui.View | discord.ui.LayoutView | None
    allowed_mentions: discord.AllowedMentions
    thread_name: str | None = None
    sender: BlogIdentity | None = None

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"allowed_mentions": self.allowed_mentions}
        if self.content is not None:
            kwargs["content"] = self.content
        if self.embed is not None:
            kwargs["embed"] = self.embed
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs

    def payload(self) -> dict[str, Any]:
        """The JSON body of Discord's create-message request for this announcement."""
        body: dict[str, Any] = {"allowed_mentions": self.allowed_mentions.to_dict()}
        if self.content is not None:
            body["content"] = self.content
        if self.embed is not None:
            body["embeds"] = [self.embed.to_dict()]
        if self.view is not None:
            body["components"] = self.view.to_components()
            if isinstance(self.view, discord.ui.LayoutView):
                body["flags"] = IS_COMPONENTS_V2
        return body


async def render_announcement(
    post: Post,
    style: AnnouncementStyle,
    *,
    summarize: Summarize,
    locale: str,
    blog_tz: ZoneInfo,
    blog: str | None = None,
    role_id: int | None = None,
    strict: bool = False,
) -> Announcement:
    """The announcement of `post` for a server in `locale`.

    At send time a template's text over Discord's limits is cut to fit, and one that renders to
    nothing falls back to the title and link: the post still goes out. `strict` (the preview at
    `/subscribe`, `kiji render`) refuses both instead, with the reason, so an admin hears of it
    before anything is saved.
    """
    tz = style.timezone or blog_tz
    role = f"<@&{role_id}>" if role_id else ""
    mentions = discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(role_id)] if role_id else False
    )
    summary, footer = await summarize(post, "standard", locale)
    text = None
    if style.template is not None or style.layout == "text":
        template = style.template or Template.parse(DEFAULT_TEXT_TEMPLATE)
        fields = await _fields(post, template, summary, summarize, locale, tz, blog, role)
        raw = template.render(fields).strip()
        if strict and len(raw) > limits.CONTENT:
            raise TemplateError(
                f"with the post {post.title!r} the message would be {len(raw)} characters; "
                f"Discord takes at most {limits.CONTENT}"
            )
        if strict and not raw and style.layout == "text":
            raise TemplateError(f"with the post {post.title!r} the template gives an empty message")
        text = limits.cut(raw, limits.CONTENT) or None
    if style.layout == "text":
        return Announcement(text or _fallback_text(post), None, None, mentions)
    if style.layout == "card":
        return Announcement(None, None, _card(post, summary, text or role or None, tz, locale, blog), mentions)
    embed = post_embed(post, summary, footer, tz=tz, locale=locale, blog=blog)
    return Announcement(text if text is not None else (role or None), embed, None, mentions)


async def render_thread_name(
    post: Post,
    template: Template | None,
    *,
    summarize: Summarize,
    locale: str,
    tz: ZoneInfo,
    blog: str | None = None,
) -> str:
    """A thread's name for `post`: the template on one line (default: the title), cut to Discord's 100."""
    if template is None:
        raw = post.title
    else:
        summary = (await summarize(post, "standard", locale))[0] if template.summary_lengths else ""
        raw = template.render(await _fields(post, template, summary, summarize, locale, tz, blog, ""))
    name = " ".join(raw.split())
    return limits.cut(name or " ".join(post.title.split()) or post.abs_url, limits.THREAD_NAME)


async def _fields(
    post: Post,
    template: Template,
    standard: str,
    summarize: Summarize,
    locale: str,
    tz: ZoneInfo,
    blog: str | None,
    role: str,
) -> PostFields:
    summaries = {"standard": standard}
    if "short" in template.summary_lengths:
        summaries["short"] = (await summarize(post, "short", locale))[0]
    return PostFields(
        title=post.title,
        url=post.abs_url,
        date=datetime.fromtimestamp(post.date_utc, tz),
        summaries=summaries,
        description=post.description or "",
        author=post.author or "",
        tags=post.tags,
        categories=post.categories,
        blog=blog or "",
        reading_time=post.reading_time,
        role=role,
        image=post.image or "",
    )


def _fallback_text(post: Post) -> str:
    """A template that rendered to nothing for this post (every field it names is empty) still says what is new."""
    return limits.cut(f"**{post.title}**\n{post.abs_url}".strip(), limits.CONTENT)


def _card(
    post: Post, summary: str, lead: str | None, tz: ZoneInfo, locale: str, blog: str | None
) -> discord.ui.LayoutView:
    view = discord.ui.LayoutView(timeout=None)
    container: discord.ui.Container[discord.ui.LayoutView] = discord.ui.Container(accent_colour=EMBED_COLOUR)
    title = limits.cut(post.title, limits.EMBED_TITLE)
    linked = fits_link(post.abs_url, limits.EMBED_URL)
    heading = f"### [{escape_link_text(title)}]({post.abs_url})" if linked else f"### {title}"
    details = [
        format_date(post.date_utc, tz, locale),
        *([post.author] if post.author else []),
        *([blog] if blog else []),
    ]
    details.append(t("reading_time", locale, minutes=post.reading_time))
    footer = "-# " + " · ".join(d for d in details if d)
    budget = CARD_TEXT_TOTAL - len(heading) - len(footer) - len(lead or "")
    body = [text for text in (heading, limits.cut(summary, max(budget, 0))) if text]
    if lead:
        container.add_item(discord.ui.TextDisplay(lead))
    if post.image:  # the title and summary beside the post's picture
        picture = discord.ui.Thumbnail(post.image, description=limits.cut(title, THUMBNAIL_DESCRIPTION))
        container.add_item(discord.ui.Section(*map(discord.ui.TextDisplay, body), accessory=picture))
    else:
        for text in body:
            container.add_item(discord.ui.TextDisplay(text))
    container.add_item(discord.ui.TextDisplay(footer))
    if fits_link(post.abs_url, limits.BUTTON_URL):
        row: discord.ui.ActionRow[discord.ui.LayoutView] = discord.ui.ActionRow()
        row.add_item(
            discord.ui.Button(
                style=discord.ButtonStyle.link,
                label=limits.cut(t("read_article", locale), limits.BUTTON_LABEL),
                url=post.abs_url,
            )
        )
        container.add_item(row)
    view.add_item(container)
    return view
