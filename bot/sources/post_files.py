"""Finding a site's post files as Jekyll's Reader does, and reading one without trusting the disk.

Jekyll reads every `_posts` folder below a folder it does not skip (names starting with `.`,
`_`, `#` or `~`, and the site's `exclude`). A Markdown file in `_posts` without a
``YYYY-MM-DD-`` name is still returned, so that the post reader can report it instead of it
vanishing; any other dated file is a post too when it is text (an .html post stays .html).

The folder may be anyone's: a checkout of a repository, a shared mount. So, as Jekyll's safe
mode does, a symlink is followed only when it stays inside the site (a `_posts` linked to `/`
or into a loop is reported, never walked); every file is read through `site_files` (regular
files only, never more than `MAX_POST_BYTES`, never outside the site); and a file name that is
not valid UTF-8 is reported, since no URL, id or store row could spell it.
"""

from __future__ import annotations

import codecs
import fnmatch
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.sources.post_error import PostError
from bot.sources.ruby_text import ruby_lower
from bot.sources.site_config import Site
from bot.sources.site_files import (
    MAX_SITE_FILE_BYTES,
    MAX_SITE_FILE_SIZE_TEXT,
    check_regular,
    open_site_file,
    printable_path,
    read_site_file,
    symlink_problem,
)

MAX_POST_BYTES = MAX_SITE_FILE_BYTES
MAX_POST_SIZE_TEXT = MAX_SITE_FILE_SIZE_TEXT
DATE_NAME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})-(.*)(\.[^.]+)\Z", re.S)
_NUL = b"\x00"
__all__ = ["DATE_NAME", "MAX_POST_BYTES", "MAX_POST_SIZE_TEXT", "check_regular", "printable_path", "read_post_file"]


@dataclass
class PostScan:
    """The post files of a site (absolute path, Jekyll's site-relative path) and what could not be walked."""

    # absolute paths as strings: a walk of 100,000 posts spent a second of the interpreter (while
    # the bot waited for it) building Path objects nobody needed
    files: list[tuple[str, str]] = field(default_factory=list)
    problems: list[PostError] = field(default_factory=list)


def _undecodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _special(name: str) -> bool:
    return name[:1] in (".", "_", "#", "~") or name.endswith("~")


@functools.lru_cache(maxsize=32)
def _exclude_matcher(patterns: tuple[str, ...]) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    """One compiled regex for the glob patterns plus the plain prefixes: the walk tests every file."""
    globs = "|".join(fnmatch.translate(pattern) for pattern in patterns)
    return (re.compile(globs) if globs else None), patterns


def _excluded(site: Site, rel: str, is_dir: bool) -> bool:
    if not site.exclude:
        return False
    globs, prefixes = _exclude_matcher(tuple(site.exclude))
    if (globs is not None and globs.match(rel)) or rel.startswith(prefixes):
        return True
    return is_dir and (rel + "/") in prefixes


def scan_post_files(site: Site) -> PostScan:
    """Walk the site as Jekyll's Reader does: every `_posts` under a non-skipped folder."""
    root = site.root
    real_root = site.real_root
    scan = PostScan()
    if site.posts_only:
        _collect_posts(site, root, "_posts", scan, real_root, check_exclude=False)
    else:
        for dirpath, dirnames, files in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
            if "_posts" in files and os.path.islink(os.path.join(dirpath, "_posts")):
                # a symlink that leads nowhere, or round in a loop, is listed as a file
                posts_rel = f"{rel_dir}/_posts" if rel_dir else "_posts"
                if (problem := symlink_problem(os.path.join(dirpath, "_posts"), posts_rel, real_root)) is not None:
                    scan.problems.append(problem)
            if "_posts" in dirnames:
                posts_rel = f"{rel_dir}/_posts" if rel_dir else "_posts"
                posts_dir = os.path.join(dirpath, "_posts")
                problem = symlink_problem(posts_dir, posts_rel, real_root) if os.path.islink(posts_dir) else None
                if problem is not None:
                    scan.problems.append(problem)
                else:
                    _collect_posts(site, Path(posts_dir), posts_rel, scan, real_root, check_exclude=True)
            keep = []
            for name in sorted(dirnames):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if _special(name) or _excluded(site, rel, True):
                    continue
                if os.path.islink(os.path.join(dirpath, name)):
                    continue
                keep.append(name)
            dirnames[:] = keep
    scan.files.sort(key=lambda item: item[1])
    return scan


def find_post_files(site: Site) -> list[tuple[Path, str]]:
    """(absolute path, site-relative path) of every post file, in path order."""
    return [(Path(path), rel) for path, rel in scan_post_files(site).files]


def _collect_posts(
    site: Site, base: Path, base_rel: str, scan: PostScan, real_root: str, *, check_exclude: bool
) -> None:
    pending = [(str(base), "")]
    while pending:
        folder, inner_dir = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue  # as os.walk does: ingest asks why a stored post under it went missing
        for entry in entries:
            name = entry.name
            entry_rel = f"{inner_dir}/{name}" if inner_dir else name
            rel = f"{base_rel}/{entry_rel}"
            try:
                is_dir = entry.is_dir()  # follows a symlink, as os.walk does
            except OSError:
                is_dir = False
            if is_dir:
                # Ruby's glob skips dot folders; a symlinked folder is not walked into.
                if not name.startswith(".") and not entry.is_symlink():
                    if _undecodable(name):
                        scan.problems.append(
                            PostError(printable_path(rel), "folder name is not valid UTF-8; rename it")
                        )
                        continue
                    pending.append((entry.path, entry_rel))
                continue
            if _special(entry_rel) or _special(name):
                continue
            dated = DATE_NAME.match(name) is not None
            markdown = ruby_lower(os.path.splitext(name)[1]) in site.markdown_exts
            if not markdown and (site.posts_only or not dated):
                continue
            if _undecodable(name):
                scan.problems.append(
                    PostError(printable_path(rel), "file name is not valid UTF-8; rename it (the name becomes its URL)")
                )
                continue
            if entry.is_symlink() and (problem := symlink_problem(entry.path, rel, real_root)) is not None:
                scan.problems.append(problem)
                continue
            # Any other dated file is a post to Jekyll too (an .html or .txt post), unless it is
            # not text: Jekyll skips a file that is not valid UTF-8 without a word. A plain posts
            # folder keeps to Markdown, as it may hold anything else.
            if not markdown and not _is_text(entry.path, real_root):
                continue
            if check_exclude and _excluded(site, rel, False):
                continue
            scan.files.append((entry.path, rel))


def is_post_path(site: Site, rel: str) -> bool:
    """Whether the walk would list the file at Jekyll's site-relative path `rel` (if it exists).

    For sources that say which files changed: only those that are posts need reading. Files
    that are not Markdown are taken as posts when dated; the reader reports them if not text.
    """
    parts = rel.split("/")
    if "_posts" not in parts:
        return False
    at = parts.index("_posts")
    above, inner = parts[:at], parts[at + 1 :]
    if not inner:
        return False
    if not site.posts_only:
        for depth, name in enumerate(above):
            if _special(name) or _excluded(site, "/".join(above[: depth + 1]), True):
                return False
    if any(name.startswith(".") for name in inner[:-1]):
        return False
    name = inner[-1]
    if _special("/".join(inner)) or _special(name):
        return False
    markdown = ruby_lower(os.path.splitext(name)[1]) in site.markdown_exts
    if not markdown and (site.posts_only or not DATE_NAME.match(name)):
        return False
    return site.posts_only or not _excluded(site, rel, False)


def read_post_file(site: Site, path: str | Path, rel: str) -> bytes:
    """The bytes of the post at `path`: see `site_files.read_site_file` for what is refused."""
    return read_site_file(site.real_root, path, rel)


def _is_text(path: str, root_real: str) -> bool:
    """Whether a non-Markdown file is UTF-8 text without NULs (an image named like a post is not).

    Only its first `MAX_POST_BYTES` are looked at. A file that cannot be read, or is not a
    regular file, counts as text so that the reader reports it rather than it vanishing.
    """
    try:
        with open_site_file(root_real, path, path, capped=False) as handle:
            data = handle.read(MAX_POST_BYTES + 1)
    except (PostError, OSError):
        return True
    if _NUL in data:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) <= MAX_POST_BYTES)
    except UnicodeDecodeError:
        return False
    return True
