"""A restart of `kiji run` on a git blog that has not moved: the blog's posts are in the store, and
the log says nothing that would send a user looking for a broken blog.

The sync of an unchanged git blog has nothing to read (its version is the stored one), so its
report counts 0 of everything; that is not a blog without posts.
"""

from __future__ import annotations

from pathlib import Path

from bot_harness import populate
from git_server import BlogRemotes, GitDaemon
from kiji_process import KijiProcess, kiji_env

from bot.emulator import DiscordEmulator

WAIT_S = 120.0


def git_env(emu: DiscordEmulator, tmp_path: Path, clone_url: str) -> dict[str, str]:
    return kiji_env(
        emu,
        tmp_path / "no-posts",
        tmp_path / "kiji.sqlite3",
        KIJI_POSTS_DIR="",  # the git blog is the only source
        KIJI_SITE_URL="",
        KIJI_SOURCES=f"git+{clone_url}",
        KIJI_POLL_SECONDS="3600",
    )


async def test_a_restart_on_an_unchanged_git_blog_does_not_say_the_blog_has_no_posts(
    discord_emulator: DiscordEmulator, git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> None:
    populate(discord_emulator)
    remote = blog_remotes.blog(posts=3)
    env = git_env(discord_emulator, tmp_path, git_daemon.url(remote))
    first = await KijiProcess.start("run", env=env, cwd=tmp_path)
    try:
        await first.wait_for_line("ingested posts: 3 added", WAIT_S)
    finally:
        assert await first.stop() == 0, first.text

    again = await KijiProcess.start("run", env=env, cwd=tmp_path)
    try:
        line = await again.wait_for_line("ingested posts:", WAIT_S)
        await again.wait_for_line("logged in as", WAIT_S)
    finally:
        assert await again.stop() == 0, again.text
    assert "0 added" in line, line  # nothing was new: the version read is the stored one
    assert "no posts in" not in again.text, again.text


async def test_a_blog_with_no_posts_is_still_named_in_a_warning(
    discord_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    populate(discord_emulator)
    empty = tmp_path / "posts"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a post\n", encoding="utf-8")
    kiji = await KijiProcess.start(
        "run", env=kiji_env(discord_emulator, empty, tmp_path / "kiji.sqlite3"), cwd=tmp_path
    )
    try:
        line = await kiji.wait_for_line("no posts in", WAIT_S)
    finally:
        assert await kiji.stop() == 0, kiji.text
    assert "YYYY-MM-DD-title.md" in line, line
