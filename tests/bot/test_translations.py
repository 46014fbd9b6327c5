"""Command names, options and descriptions as Japanese users see them, from the synced commands."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot_harness import bot_settings, populate, running_bot
from factories import make_blog

from bot.emulator import DiscordEmulator

# Discord's rule for command and option names (CHAT_INPUT): lower case where the script has case.
NAME = re.compile(r"^[-_\w\u0900-\u097f\u0e00-\u0e7f]{1,32}$")


async def _synced(emu: DiscordEmulator, tmp_path: Path) -> dict[str, dict[str, Any]]:
    populate(emu)
    settings = bot_settings(emu, make_blog(tmp_path / "posts"), tmp_path / "kiji.sqlite3")
    async with running_bot(emu, settings):
        return {c["name"]: c for c in emu.global_commands.values()}


def _option(command: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in command.get("options", []) if o["name"] == name)


async def test_the_tags_command_and_the_tags_option_read_differently(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    synced = await _synced(discord_emulator, tmp_path)
    assert synced["tags"]["name_localizations"]["ja"] == "タグ一覧"
    assert _option(synced["subscribe"], "tags")["name_localizations"]["ja"] == "タグ"
    assert _option(synced["latest"], "tag")["name_localizations"]["ja"] == "タグ"
    assert _option(synced["summary"], "length")["choices"][0]["name_localizations"]["ja"] == "短め"


async def test_every_command_text_has_a_japanese_form_that_discord_accepts(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    synced = await _synced(discord_emulator, tmp_path)
    commands = list(synced.values())
    names = [c["name_localizations"]["ja"] for c in commands]
    assert len(names) == len(set(names)), sorted(names)  # two commands may not share a name
    for command in commands:
        assert command["description_localizations"]["ja"], command["name"]
        options = command.get("options", [])
        option_names = [o["name_localizations"]["ja"] for o in options]
        assert len(option_names) == len(set(option_names)), (command["name"], option_names)
        for name in [command["name_localizations"]["ja"], *option_names]:
            assert NAME.fullmatch(name) and name == name.lower(), name
        for option in options:
            assert option["description_localizations"]["ja"], (command["name"], option["name"])
            for choice in option.get("choices", []):
                assert choice["name_localizations"]["ja"], (command["name"], option["name"], choice["name"])
        assert command["name_localizations"]["en-US"] == command["name"]


async def test_digest_options_and_the_notices_commands_read_in_japanese(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    synced = await _synced(discord_emulator, tmp_path)
    subscribe = synced["subscribe"]
    assert _option(subscribe, "digest")["name_localizations"]["ja"] == "まとめ配信"
    assert [c["name_localizations"]["ja"] for c in _option(subscribe, "digest")["choices"]] == ["オフ", "毎日", "毎週"]
    assert _option(subscribe, "digest_weekday")["choices"][6]["name_localizations"]["ja"] == "日曜日"
    hour = _option(subscribe, "digest_hour")
    assert (hour["min_value"], hour["max_value"]) == (0, 23) and hour["description_localizations"]["ja"]
    notices = synced["notices"]
    assert int(notices["default_member_permissions"]) == 1 << 5  # Manage Server
    assert notices["contexts"] == [0] or notices.get("dm_permission") is False  # servers only
    channel = _option(notices, "channel")
    nested = _option(channel, "channel")
    assert nested["name_localizations"]["ja"] == "チャンネル" and nested["description_localizations"]["ja"]
    assert {o["name_localizations"]["ja"] for o in notices["options"]} == {"チャンネル指定", "オン", "オフ"}
