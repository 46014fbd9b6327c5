"""`kiji run` that cannot work says in one line what to do, and never prints the token."""

from __future__ import annotations

from pathlib import Path

import pytest
from bot_harness import populate
from factories import make_blog
from kiji_process import KijiProcess, kiji_env

from bot.emulator import DiscordEmulator

EXIT_UNUSABLE, EXIT_TEMPORARY = 2, 75


async def run_to_end(emu: DiscordEmulator, tmp_path: Path, **env: str) -> tuple[int, str]:
    posts = make_blog(tmp_path / "posts", tagged_ai=1)
    kiji = await KijiProcess.start("run", env=kiji_env(emu, posts, tmp_path / "kiji.sqlite3", **env), cwd=tmp_path)
    return await kiji.finish(), kiji.text


def assert_one_clean_message(text: str, token: str) -> str:
    """The last stderr line is the message for the user: no traceback, no token."""
    assert "Traceback" not in text, text
    assert token not in text
    return text.strip().splitlines()[-1]


async def test_a_rejected_token_says_to_reset_it(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator
    populate(emu)
    emu.fail_next("GET", r"^/users/@me$", 401)
    code, text = await run_to_end(emu, tmp_path)
    message = assert_one_clean_message(text, emu.token)
    assert code == EXIT_UNUSABLE, text
    assert message.startswith("kiji run: Discord rejected the token (401 Unauthorized)")
    assert "Reset Token" in message and "DISCORD_TOKEN" in message and ".env" in message
    assert emu.identify_count == 0


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("Bot MTAwMDAwMDAwMDAwMDAwMDAx.emulator.fake-token", "starts with 'Bot '"),
        ('"MTAwMDAwMDAwMDAwMDAwMDAx.emulator.fake-token"', "quotes"),
        ("1000000000000000001", "application (client) id"),
        ("a1" * 32, "public key"),
        ("Ab3_" * 8, "client secret"),
        ("MTAwMDAw MDAw.x.y", "spaces"),
        ("MTAwMDAwMDAwMDAwMDAwMDAx.emulator", "separated by two dots"),
        ("MTAwMDAwMDAwMDAwMDAwMDAx..fake", "separated by two dots"),
    ],
)
async def test_a_token_not_shaped_like_one_is_refused_before_connecting(
    discord_emulator: DiscordEmulator, tmp_path: Path, token: str, why: str
) -> None:
    emu = discord_emulator
    code, text = await run_to_end(emu, tmp_path, DISCORD_TOKEN=token)
    message = assert_one_clean_message(text, token)
    assert code == EXIT_UNUSABLE, text
    assert message.startswith("kiji run: DISCORD_TOKEN is not a bot token (") and why in message, message
    assert "Reset Token" in message
    assert emu.requests == []  # refused before a single request reached Discord


async def test_missing_privileged_intents_say_where_to_enable_them(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = discord_emulator
    populate(emu)
    emu.refuse_identify_with = 4014
    code, text = await run_to_end(emu, tmp_path)
    message = assert_one_clean_message(text, emu.token)
    assert code == EXIT_UNUSABLE, text
    assert message.startswith("kiji run: Discord refused the gateway connection (4014)")
    assert "Privileged Gateway Intents" in message


async def test_a_server_error_at_login_is_temporary(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator
    populate(emu)
    emu.fail_next("GET", r"^/users/@me$", 503, count=5)
    code, text = await run_to_end(emu, tmp_path)
    message = assert_one_clean_message(text, emu.token)
    assert code == EXIT_TEMPORARY, text
    assert message.startswith("kiji run: Discord answered 503 Service Unavailable: it may be having an outage")
    assert "try again later" in message.lower()
    assert {r.status for r in emu.requests if r.path == "/users/@me"} == {503}


async def test_discord_unreachable_at_start_is_temporary(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator
    closed = f"http://127.0.0.1:{emu.port}/api/v10"
    await emu.stop()  # nothing listens there any more
    code, text = await run_to_end(emu, tmp_path, DISCORD_API_BASE=closed)
    message = assert_one_clean_message(text, emu.token)
    assert code == EXIT_TEMPORARY, text
    assert message.startswith(f"kiji run: could not reach Discord ({closed})")
    assert "check the network" in message


async def test_a_missing_commands_scope_says_to_invite_again(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator
    populate(emu)
    emu.fail_next("PUT", r"^/applications/\d+/commands$", 403, body={"message": "Missing Access", "code": 50001})
    posts, db = make_blog(tmp_path / "posts", tagged_ai=1), tmp_path / "kiji.sqlite3"
    kiji = await KijiProcess.start("run", env=kiji_env(emu, posts, db), cwd=tmp_path)
    try:
        line = await kiji.wait_for_line("could not sync slash commands")
        await kiji.wait_for_line("logged in as")  # the bot goes on: announcements need no commands
    finally:
        assert await kiji.stop() == 0, kiji.text
    assert " ERROR " in line and "applications.commands" in line and "`kiji invite`" in line
    assert "Traceback" not in kiji.text
    # Nothing was recorded as synced, so the next start tries again (and here succeeds).
    again = await KijiProcess.start("run", env=kiji_env(emu, posts, db), cwd=tmp_path)
    try:
        await again.wait_for_line("slash commands globally")
    finally:
        assert await again.stop() == 0, again.text
    assert emu.global_commands
    assert f"synced {len(emu.global_commands)} slash commands globally" in again.text


async def test_a_bot_in_no_server_says_how_to_add_it(discord_emulator: DiscordEmulator, tmp_path: Path) -> None:
    emu = discord_emulator  # no guild at all
    posts = make_blog(tmp_path / "posts", tagged_ai=1)
    kiji = await KijiProcess.start("run", env=kiji_env(emu, posts, tmp_path / "kiji.sqlite3"), cwd=tmp_path)
    try:
        line = await kiji.wait_for_line("in no server")
    finally:
        assert await kiji.stop() == 0, kiji.text
    assert " WARNING " in line and "`kiji invite`" in line
    assert "in 0 servers" in kiji.text
