"""The places outside servers the bot joined: DMs, group DMs and users who installed the app themselves.

Since 2024 a user can install an app to their account and use its commands in a DM with the bot,
in DMs and group DMs with other people (where no bot can be) and in servers that never added
the bot. :class:`~.world.World` holds these places through this mixin; the interaction driver
turns them into the ``context`` and ``authorizing_integration_owners`` Discord sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .records import DM, GROUP_DM


class PrivatePlaces:
    """DMs, group DMs and user installs, as part of the world's state."""

    application_id: int
    snowflake: Callable[[], int]
    users: dict[int, dict[str, Any]]
    channels: dict[int, dict[str, Any]]
    #: Who is in each DM and group DM (the bot too, in its own DMs), by channel id.
    private_members: dict[int, set[int]]
    #: Users who installed the app to their account (a "user install").
    user_installs: set[int]
    user_json: Callable[..., dict[str, Any]]

    def add_user(self, name: str) -> int:
        """A Discord user who shares no server with the bot (yet)."""
        user_id = self.snowflake()
        self.users[user_id] = self.user_json(user_id, name)
        return user_id

    def install_for_user(self, user_id: int) -> None:
        """The user adds the app to their account (the user install link)."""
        self.user_installs.add(user_id)

    def add_dm(self, user_id: int, other: int | None = None) -> int:
        """A DM of ``user_id`` with the bot, or (``other``) with another user, where the bot is not."""
        peer = self.application_id if other is None else other
        return self._add_private(DM, [user_id, peer], None)

    def add_group_dm(self, user_ids: Iterable[int], name: str = "group") -> int:
        """A group DM of these users (the first one owns it); a bot can never be in one."""
        return self._add_private(GROUP_DM, list(user_ids), name)

    def _add_private(self, type: int, members: list[int], name: str | None) -> int:
        channel_id = self.snowflake()
        data: dict[str, Any] = {
            "id": str(channel_id),
            "type": type,
            "last_message_id": None,
            "flags": 0,
            # A DM lists the other party; a group DM everyone in it.
            "recipients": [self.users[uid] for uid in (members if type == GROUP_DM else members[1:])],
        }
        if type == GROUP_DM:
            data.update(name=name, icon=None, owner_id=str(members[0]))
        self.channels[channel_id] = data
        self.private_members[channel_id] = set(members)
        return channel_id

    def is_private(self, channel_id: int) -> bool:
        return channel_id in self.private_members
