"""The URLs that install Kiji: to a server, with exactly the permissions announcing needs; to a user's account.

The permissions come from the announcer's own list for each kind of channel it can announce
in, so the invite asks for no more and no less than the bot later checks for. A user install
(`integration_type=1`) asks for no bot and no permission at all: only the commands, which the
user then has in DMs, group DMs and any server (see `bot.discord.reach` for which ones).
"""

from __future__ import annotations

from urllib.parse import urlencode

import discord

from bot.discord.announcer import required_permissions

CHANNEL_KINDS = ("text", "news", "forum")
SCOPES = ("bot", "applications.commands")
USER_INSTALL = 1  # Discord's integration type of an install to a user's account (0: to a server)


def invite_permissions() -> discord.Permissions:
    needed = {attribute for kind in CHANNEL_KINDS for attribute in required_permissions(kind)}
    return discord.Permissions(**dict.fromkeys(sorted(needed), True))


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=invite_permissions(), scopes=SCOPES)


def user_install_url(application_id: int) -> str:
    query = urlencode({"client_id": application_id, "integration_type": USER_INSTALL, "scope": "applications.commands"})
    return f"https://discord.com/oauth2/authorize?{query}"
