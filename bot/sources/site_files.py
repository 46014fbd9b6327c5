"""Reading one file of a site without trusting the disk: the single door every site read goes through.

The folder may be anyone's: a checkout of a repository, a shared mount. Its `_config.yml`, its
posts, anything Kiji ever reads of it, may be a symlink to `/etc/…` or to a 1.5 GB sparse file
outside it, a named pipe that blocks forever, or a device that never ends. So, as Jekyll's safe
mode does, a symlink is followed only when it stays inside the site; only regular files are read;
and never more than `MAX_SITE_FILE_BYTES` of one. A refusal is a PostError naming the file and
saying why, so the caller can report it and carry on with the rest of the site.

The site's own root is trusted as configured (it may itself be a symlink: the person running Kiji
chose it); what lies below it is not.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from bot.sources.post_error import PostError

MAX_SITE_FILE_BYTES = 5 * 1024 * 1024
MAX_SITE_FILE_SIZE_TEXT = "5 MiB"
_FILE_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
# Opening a symlink with O_NOFOLLOW fails with ELOOP on Linux, EMLINK on FreeBSD.
_IS_A_SYMLINK = {errno.ELOOP, errno.EMLINK}


def printable_path(path: str) -> str:
    """`path` with undecodable bytes written as `\\xff`, so it can be printed, logged and stored."""
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that did not come from a file name's byte
        return path.encode("utf-8", "backslashreplace").decode("utf-8")


def resolved_root(root: str | Path) -> str:
    """The site's root with every symlink resolved: what "inside the site" is measured against."""
    return os.path.realpath(root)


def inside(root_real: str, target: str) -> bool:
    return target == root_real or target.startswith(root_real.rstrip(os.sep) + os.sep)


def symlink_problem(path: str | Path, rel: str, root_real: str) -> PostError | None:
    """Why the symlink at `path` must not be followed (Jekyll's safe mode), or None when it may."""
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return PostError(printable_path(rel), "a symlink loop; not followed")
        return PostError(printable_path(rel), f"a symlink to nothing readable ({exc.strerror or exc}); not followed")
    if not inside(root_real, target):
        return PostError(
            printable_path(rel),
            f"a symlink to {printable_path(target)}, outside the site; like Jekyll's safe mode, "
            "Kiji only follows symlinks that stay inside the site",
        )
    return None


def _file_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, for the report; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_regular(st: os.stat_result, rel: str, *, capped: bool = True) -> None:
    """Raise PostError unless `st` is of a regular file (no larger than the cap when `capped`)."""
    kind = _file_kind(st.st_mode)
    if kind is not None:
        raise PostError(printable_path(rel), f"{kind}, not a regular file; only regular files are read")
    if capped and st.st_size > MAX_SITE_FILE_BYTES:
        raise PostError(
            printable_path(rel),
            f"file too large: {st.st_size} bytes (limit {MAX_SITE_FILE_BYTES} bytes = {MAX_SITE_FILE_SIZE_TEXT})",
        )


def _opened_outside(fd: int, rel: str, root_real: str) -> PostError | None:
    """A PostError when the file open on `fd` lies outside the site (reached through a symlinked folder).

    The last part of the path was checked before opening; this asks the kernel where the file
    really is, so a symlinked folder on the way cannot lead outside either. Where the kernel
    cannot say (no /proc), the check before opening stands alone.
    """
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    if not where.startswith("/") or inside(root_real, where):
        return None
    return PostError(
        printable_path(rel),
        f"lies at {printable_path(where)}, outside the site (through a symlinked folder); "
        "Kiji only reads files inside the site",
    )


def open_site_file(root_real: str, path: str | Path, rel: str, *, capped: bool = True) -> BinaryIO:
    """A binary handle on the regular file at `path`, inside the site whose real root is `root_real`.

    PostError (naming `rel`) for a symlink leading out of the site, anything but a regular file,
    and (when `capped`) a file over the size cap. Opened without blocking, so a named pipe is
    refused instead of waiting forever for a writer; a symlink is checked before it is opened.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno not in _IS_A_SYMLINK:
            raise PostError(printable_path(rel), f"cannot read the file: {exc.strerror or exc}") from None
        if (problem := symlink_problem(path, rel, root_real)) is not None:
            raise problem from None
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as again:
            raise PostError(printable_path(rel), f"cannot read the file: {again.strerror or again}") from None
    try:
        if (problem := _opened_outside(fd, rel, root_real)) is not None:
            raise problem
        check_regular(os.fstat(fd), rel, capped=capped)  # before fdopen, which refuses a folder its own way
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_site_file(root_real: str, path: str | Path, rel: str) -> bytes:
    """The bytes of a regular file of the site, within the size cap; PostError (naming `rel`) otherwise.

    Read to at most one byte over the cap, so a file that grows while it is read costs no more.
    """
    limit = MAX_SITE_FILE_BYTES
    with open_site_file(root_real, path, rel) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise PostError(printable_path(rel), f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise PostError(
            printable_path(rel),
            f"file too large: over {limit} bytes (limit {limit} bytes = {MAX_SITE_FILE_SIZE_TEXT})",
        )
    return data
