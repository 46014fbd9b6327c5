"""The URL that adds Kiji to a server, with exactly the permissions announcing needs.

The permissions come from the announcer's own list for each kind of channel it can announce
in, so the invite asks for no more and no less than the bot later checks for.
"""

from __future__ import annotations

import discord

from bot.discord.announcer import required_permissions

CHANNEL_KINDS = ("text", "news", "forum")
SCOPES = ("bot", "applications.commands")


def invite_permissions() -> discord.Permissions:
    needed = {attribute for kind in CHANNEL_KINDS for attribute in required_permissions(kind)}
    return discord.Permissions(**dict.fromkeys(sorted(needed), True))


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=invite_permissions(), scopes=SCOPES)
