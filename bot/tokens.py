"""What a Discord bot token looks like, to refuse a pasted wrong value before connecting.

A bot token is three base64url parts joined by dots: the bot's user id (which is its
application id), a timestamp and a signature. The usual wrong pastes — the application id,
the public key, the OAuth2 client secret, a "Bot " prefix or quotes copied along — are
named, so the fix is obvious. No message here ever contains the token or part of it.
"""

from __future__ import annotations

import base64
import binascii
import re

_PART = r"[A-Za-z0-9_-]+"
TOKEN_SHAPE = re.compile(rf"{_PART}\.{_PART}\.{_PART}")

RESET_HINT = (
    "copy the bot token from https://discord.com/developers/applications → your application → Bot → "
    "Reset Token, and set DISCORD_TOKEN=... in .env (or the environment)"
)


def token_problem(token: str) -> str | None:
    """Why `token` cannot be a bot token, or None when it is shaped like one."""
    if TOKEN_SHAPE.fullmatch(token):
        return None
    if token.lower().startswith("bot "):
        why = "it starts with 'Bot ': give the token alone, Kiji adds the prefix"
    elif token[:1] in "\"'" or token[-1:] in "\"'":
        why = "it is wrapped in quotes: remove them"
    elif token.isdigit():
        why = "it is a number: that is the application (client) id, not the token"
    elif re.fullmatch(r"[0-9a-fA-F]{64}", token):
        why = "it looks like the application's public key, not the bot token"
    elif re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
        why = "it looks like the OAuth2 client secret, not the bot token"
    elif any(c.isspace() for c in token):
        why = "it contains spaces or line breaks"
    else:
        why = "a bot token is three parts of letters, digits, '-' and '_' separated by two dots"
    return f"DISCORD_TOKEN is not a bot token ({why}); {RESET_HINT}"


def application_id_from_token(token: str) -> int | None:
    """A bot token starts with the base64 of the bot's user id, which is its application id."""
    if TOKEN_SHAPE.fullmatch(token) is None:
        return None
    head = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(decoded) if decoded.isascii() and decoded.isdigit() and 0 < int(decoded) < 2**63 else None
