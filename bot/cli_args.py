"""Argument types for the `kiji` command line: a value out of range is refused by argparse, naming it.

Left to the store, a number beyond SQLite's 64-bit INTEGER ends in an OverflowError traceback.
"""

from __future__ import annotations

import argparse

MAX_LIMIT = 1_000_000  # far more posts than a blog has; any limit above it means the same
MAX_ID = 2**63 - 1  # SQLite's INTEGER and Discord's snowflakes both fit below it


def positive_limit(text: str) -> int:
    """How many results at most: 1 to MAX_LIMIT."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number; give 1 or more")
    if value > MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} is too large; give at most {MAX_LIMIT}")
    return value


def discord_id(text: str) -> int:
    """A post, channel or application id: ASCII digits, 1 to MAX_ID."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an id: give the number only (digits)")
    value = int(text)
    if not 0 < value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"{text} is not an id: ids are from 1 to {MAX_ID}")
    return value


def port(text: str) -> int:
    """A TCP port to listen on, 0 meaning any free one."""
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 0 (any free one) to 65535")
    return int(text)


# `bot.discord.announcement.LAYOUTS`, written here so that `kiji --help` does not load discord.py
# to list them (a test keeps the two equal).
RENDER_LAYOUTS = ("embed", "card", "text")


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("post", metavar="POST", help="the post's id or stored path (`kiji posts` lists them)")
    parser.add_argument("--template", help="the subscription's template, e.g. '{title} {url}'")
    parser.add_argument("--layout", choices=RENDER_LAYOUTS, default="embed", help="embed (default), card or text")
    parser.add_argument("--blog", help="the blog the path is in (its title, source or id), when several have it")
    parser.add_argument("--timezone", help="the time zone of dates, e.g. Asia/Tokyo (default: UTC)")
    parser.add_argument("--locale", default="ja", help="the server's language, ja or en-US (default ja)")
    parser.add_argument("--role", type=int, metavar="ID", help="the role a subscription mentions")
