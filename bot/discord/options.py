"""Slash-command options whose range Kiji checks itself, not only Discord.

Discord enforces an option's min/max in its client, but an interaction can be sent without
that client; discord.py's `app_commands.Range` only declares the bounds. A count of 2**63
would reach SQLite as a LIMIT and end in OverflowError. `Within` declares the same bounds
to Discord and refuses a value outside them with a message naming the allowed range.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands


class OptionOutOfRange(app_commands.AppCommandError):
    """A number option outside the range the command declared; shown to the user as is."""

    def __init__(self, value: object, low: int, high: int) -> None:
        super().__init__(f"{value!r} is outside {low}..{high}")
        self.value, self.low, self.high = value, low, high


class Within(app_commands.Transformer):
    """An integer option from `low` to `high` inclusive (declared to Discord, checked here)."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.integer

    @property
    def min_value(self) -> int:
        return self.low

    @property
    def max_value(self) -> int:
        return self.high

    async def transform(self, interaction: discord.Interaction[Any], value: Any, /) -> int:
        # bool is an int to Python, never to Discord
        if not isinstance(value, int) or isinstance(value, bool) or not self.low <= value <= self.high:
            raise OptionOutOfRange(value, self.low, self.high)
        return value
