"""The invite URL: Discord's OAuth2 form, asking exactly for what announcing checks."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import discord

from bot.discord.announcer import required_permissions
from bot.discord.invite import CHANNEL_KINDS, invite_url


def test_invite_url_is_discords_oauth2_form_with_the_bot_scopes() -> None:
    url = urlsplit(invite_url(123456789012345678))
    assert (url.scheme, url.netloc, url.path) == ("https", "discord.com", "/oauth2/authorize")
    query = parse_qs(url.query)
    assert query["client_id"] == ["123456789012345678"]
    assert query["scope"][0].split() == ["bot", "applications.commands"]


def test_invite_asks_for_every_permission_the_announcer_checks_and_nothing_else() -> None:
    granted = discord.Permissions(int(parse_qs(urlsplit(invite_url(1)).query)["permissions"][0]))
    checked = {attribute for kind in CHANNEL_KINDS for attribute in required_permissions(kind)}
    assert all(getattr(granted, attribute) for attribute in checked), checked
    assert granted.value.bit_count() == len(checked)  # one bit per checked permission, no other
    assert not granted.administrator and not granted.manage_messages and not granted.mention_everyone
