"""/notices: where a server hears that a blog stopped updating (and recovered), or that it does not."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.discord.client import KijiBot
from bot.discord.i18n import t
from bot.discord.ui import reply

log = logging.getLogger(__name__)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class NoticesCog(
    commands.GroupCog,
    group_name=_("notices"),
    group_description=_("Notices when a blog stops updating, and when it recovers"),
):
    """Admin commands only: `bot.discord.notices` plans and sends the notices themselves."""

    def __init__(self, bot: KijiBot) -> None:
        self.bot = bot
        super().__init__()

    async def _set(self, interaction: discord.Interaction, enabled: bool, channel_id: int | None, key: str) -> None:
        assert interaction.guild is not None
        await self.bot.store.set_notice_settings(interaction.guild.id, enabled, channel_id)
        log.info("guild %d: notices %s (channel %s)", interaction.guild.id, "on" if enabled else "off", channel_id)
        mention = f"<#{channel_id}>" if channel_id else ""
        await reply(interaction, content=t(key, interaction.locale, channel=mention), ephemeral=True)
        self.bot.notices.wake()

    @app_commands.command(
        name=_("channel"), description=_("Send the notices to one channel instead of the subscribed ones")
    )
    @app_commands.describe(channel=_("Where the notices go"))
    @app_commands.checks.has_permissions(manage_guild=True)
    async def channel(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await self._set(interaction, True, channel.id, "notices.channel")

    @app_commands.command(name=_("on"), description=_("Send the notices to the subscribed channels (the default)"))
    @app_commands.checks.has_permissions(manage_guild=True)
    async def on(self, interaction: discord.Interaction) -> None:
        await self._set(interaction, True, None, "notices.on")

    @app_commands.command(name=_("off"), description=_("Turn the notices off in this server"))
    @app_commands.checks.has_permissions(manage_guild=True)
    async def off(self, interaction: discord.Interaction) -> None:
        await self._set(interaction, False, None, "notices.off")


async def setup(bot: KijiBot) -> None:
    await bot.add_cog(NoticesCog(bot))
