"""A throwaway PostgreSQL server on 127.0.0.1, for the tests (`postgres_server`) and the benchmarks.

`initdb` in a temporary folder with Debian's binaries (/usr/lib/postgresql/*/bin), listening on
127.0.0.1 on a free port, as the `postgres` user when run as root (PostgreSQL refuses to run as
root), fsync off (the data is thrown away). Stopped and removed on exit. Without the binaries (or
as root without a `postgres` user) it raises `PostgresUnavailable`, saying why: the tests skip
with that reason, a benchmark stops with it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No server can be started here; the message says why and what to install."""


def _binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def started_server(settings: tuple[str, ...] = ()) -> Iterator[str]:
    """Start a server of our own on 127.0.0.1; yields its admin URL (with the admin's password).

    `settings`: more `name=value` server settings (`-c`), e.g. a benchmark's `shared_buffers=256MB`.
    """
    binaries = _binaries()
    if binaries is None:
        raise PostgresUnavailable("no PostgreSQL binaries in /usr/lib/postgresql (apt-get install postgresql)")
    as_root = os.getuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="kiji-pg-"))
    data = folder / "data"
    prefix: list[str] = []
    user = pwd.getpwuid(os.getuid()).pw_name
    if as_root:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            raise PostgresUnavailable("running as root and there is no `postgres` user to run PostgreSQL as") from None
        os.chown(folder, account.pw_uid, account.pw_gid)
        prefix, user = ["runuser", "-u", "postgres", "--"], "postgres"
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    password = secrets.token_hex(12)  # the server checks passwords over TCP, as a real one does
    (folder / "pw").write_text(password + "\n")
    if as_root:
        os.chown(folder / "pw", account.pw_uid, account.pw_gid)
    subprocess.run([*prefix, str(binaries / "initdb"), "-D", str(data), "--auth-local=trust",
                    "--auth-host=scram-sha-256", f"--pwfile={folder / 'pw'}", "-U", user, "-E", "UTF8", "--locale=C",
                    "--no-sync"], **run)  # fmt: skip
    options = " ".join(
        [f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"]
        + [f"-c {setting}" for setting in settings]
    )
    subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options,
                    "-w", "start"], **run)  # fmt: skip
    try:
        yield f"postgresql://{user}:{password}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, check=False, timeout=60)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
