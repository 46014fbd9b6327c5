"""Running git for a source: never a prompt, never a hang, never a credential in an error.

Every git command runs in a session of its own (no controlling terminal, so neither git nor ssh
can ask for a password or a host key on the bot's console), with `GIT_TERMINAL_PROMPT=0`, stdin
closed, the C locale (so errors read the same everywhere and can be classified), and a timeout
after which its whole process group (git-remote-http, ssh, index-pack...) is killed.

Credentials in an `https://user:token@host/...` URL are taken out of the URL before git sees it:
the repository's config holds the URL without them, and git gets them from a one-line credential
helper that reads two environment variables of that one git process. So the token is never
written to the checkout's `.git/config`, never in a process's arguments, and git's own messages
(which quote the URL) cannot contain it. Whatever git prints still goes through `scrub` before it
reaches an exception or a log line: the generic patterns of `redact` (userinfo of any scheme,
scp-like `user@host:`, git's bare `user:pw@host`) and the very secret strings of this URL.

git may use only the transports Kiji knows (`GIT_ALLOW_PROTOCOL`), whatever the user's own
`protocol.allow` says: `ext::` would run any command it is handed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from bot.sources.base import SourceError
from bot.sources.specs import redact, split_userinfo

log = logging.getLogger(__name__)

# The transports Kiji clones over; the SPEC parser accepts nothing else either.
ALLOWED_PROTOCOLS = "https:http:ssh:git:file"
_USERNAME_VAR = "KIJI_GIT_USERNAME"
_PASSWORD_VAR = "KIJI_GIT_PASSWORD"
# Answers git's "get" with the two variables; ignores "store" and "erase" (nothing is kept anywhere).
_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    f'printf "username=%s\\npassword=%s\\n" "${_USERNAME_VAR}" "${_PASSWORD_VAR}"; }}; f'
)
# Lower-cased fragments of git's and ssh's messages, and what they mean for the person reading /about.
_KINDS = (
    (("authentication failed", "could not read username", "could not read password", "terminal prompts disabled",
      "permission denied", "http 401", "http 403", "the requested url returned error: 401",
      "the requested url returned error: 403", "host key verification failed"),
     "authentication failed: check the SSH key, credential helper or token for this repository"),
    (("repository not found", "does not appear to be a git repository", "not found", "no such file or directory",
      "does not exist", "access denied or repository not exported"),
     "the repository is not there (deleted, moved, or not visible to these credentials)"),
    (("could not resolve host", "name or service not known", "temporary failure in name resolution"),
     "the server's name does not resolve (offline, or a typo in the URL)"),
    (("connection refused", "unable to connect", "connection timed out", "couldn't connect", "failed to connect",
      "network is unreachable", "connection reset", "the remote end hung up"),
     "the server cannot be reached"),
)  # fmt: skip


@dataclass(frozen=True)
class GitCredentials:
    """The URL git is given (no userinfo when it carried a password) and what the helper answers.

    `hidden` holds what else must never be shown: a password written into an address git is
    given as it is (the parser refuses those, but a runner must not rely on its callers).
    """

    url: str = field(repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    hidden: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_url(cls, url: str) -> GitCredentials:
        """Take the userinfo out of an http(s) URL; other addresses (whose user is a login name) stay as they are."""
        userinfo, clean = split_userinfo(url)
        if userinfo is None:
            return cls(url)
        user, colon, password = userinfo.partition(":")
        if url.partition("://")[0].lower() not in ("http", "https"):
            return cls(url, hidden=(password,) if colon and password else ())
        return cls(clean, unquote(user), unquote(password) if colon else None)

    def config_args(self) -> list[str]:
        """`-c` options for every git command that may talk to the server (fetch, and lazy blob fetches).

        With a password, only ours answers. With a user alone (often a token written as the user, as
        GitHub allows), the user's own helpers are asked first and ours, last, answers an empty password.
        """
        if self.password is not None:
            return ["-c", "credential.helper=", "-c", f"credential.helper={_HELPER}"]
        if self.username:
            return ["-c", f"credential.helper={_HELPER}"]
        return []

    def env(self) -> dict[str, str]:
        if self.password is None and not self.username:
            return {}
        return {_USERNAME_VAR: self.username or "", _PASSWORD_VAR: self.password or ""}

    def secrets(self) -> list[str]:
        """The strings that must never be shown, as given and as they would be percent-encoded.

        A user given without a password may be a token, so it is kept out of sight as well.
        """
        values = [value for value in (self.password if self.password is not None else self.username,) if value]
        values += [form for value in self.hidden for form in (value, unquote(value)) if form]
        return list(dict.fromkeys([*values, *(quote(value, safe="") for value in values)]))


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with URL userinfo removed and any of `secrets` blotted out, for errors and logs."""
    text = redact(text)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def explain(stderr: str) -> str:
    """What went wrong, for a person: a category when git's message is a known one, and git's own last words."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = [line for line in lines if line.lower().startswith(("fatal:", "error:"))] or lines
    last = said[-1] if said else "no message"
    lowered = stderr.lower()
    for fragments, meaning in _KINDS:
        if any(fragment in lowered for fragment in fragments):
            return f"{meaning} (git: {last})"
    return f"git: {last}"


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: bytes
    stderr: str


class GitRunner:
    """Runs git commands for one repository, with the environment and limits described above."""

    def __init__(
        self, credentials: GitCredentials, *, git: str = "git", display: str = "", ceiling: Path | None = None
    ) -> None:
        self.credentials = credentials
        self.git = git
        self.display = display
        # git looks for a repository in the parent folders too: a damaged clone inside the bot's own
        # checkout must not make `git fetch` run on the bot's repository instead.
        self.ceiling = ceiling
        self.runs = 0  # how many git processes were started: work counted by tests and benchmarks

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
            env.pop(name, None)  # the bot's own environment must not point git at another repository
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GCM_INTERACTIVE="never",
            SSH_ASKPASS_REQUIRE="never",
            LC_ALL="C",
            LANGUAGE="C",
            # Overrides every protocol.allow of the user's config: `ext::` (runs any command), `fd::`
            # and the other remote helpers are refused by git itself, whatever URL it is handed.
            GIT_ALLOW_PROTOCOL=ALLOWED_PROTOCOLS,
        )
        if self.ceiling is not None:
            env["GIT_CEILING_DIRECTORIES"] = str(self.ceiling)
        env.update(self.credentials.env())
        return env

    async def run(
        self, *args: str, cwd: Path | None, time_limit: float, network: bool = False, check: bool = True
    ) -> GitResult:
        """Run `git args` in `cwd`; raises SourceError (scrubbed) on a failure when `check`, or on a timeout."""
        command = [self.git, *(self.credentials.config_args() if network else []), *args]
        self.runs += 1
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                env=self.environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise SourceError(f"{self.display}: git is not installed (no {self.git!r} on PATH)") from None
        try:
            stdout, stderr_bytes = await asyncio.wait_for(process.communicate(), time_limit)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise SourceError(
                f"{self.display}: git {args[0]} took longer than {time_limit:g} s and was stopped "
                "(a slow or unresponsive server)"
            ) from None
        stderr = scrub(stderr_bytes.decode("utf-8", "replace"), self.credentials.secrets())
        result = GitResult(process.returncode or 0, stdout, stderr)
        if check and result.returncode != 0:
            raise SourceError(f"{self.display}: {explain(stderr)}")
        return result
