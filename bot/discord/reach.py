"""Where Kiji's commands may be used: the reading commands in any chat, administration only in servers.

Since 2024 a user can install an app to their own account (Discord's "user install") and use its
commands in DMs, group DMs and servers the bot never joined. The reading commands only read the
store, so they work there as well as anywhere; the subscription commands change what the bot
posts in a server and stay where the server installed the bot. The command tree's default is the
narrow one (`GUILD_INSTALL_ONLY`, `SERVERS_ONLY`), so a new command is never offered to user
installs by accident: a reading command opts in with `anywhere`.
"""

from __future__ import annotations

from typing import TypeVar

import discord
from discord import app_commands

T = TypeVar("T")

GUILD_INSTALL_ONLY = app_commands.AppInstallationType(guild=True, user=False)
SERVERS_ONLY = app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)


def anywhere(command: T) -> T:
    """Offer a command to both installs, in servers, the bot's DM and other DMs and group DMs."""
    command = app_commands.allowed_installs(guilds=True, users=True)(command)
    return app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)(command)


def must_reply_privately(interaction: discord.Interaction) -> bool:
    """Whether Discord shows only the invoking user what the app answers here.

    A user-installed app's reply in a server that has not installed the app is public only if
    the member may Use External Apps in that channel; otherwise Discord makes it ephemeral.
    Answering ephemerally ourselves keeps what the bot asks for and what people see the same,
    from the first (possibly deferred) response to the last page turned.
    """
    return (
        interaction.guild_id is not None
        and not interaction.is_guild_integration()
        and not interaction.permissions.use_external_apps
    )
