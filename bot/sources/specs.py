"""What a source SPEC says: a local folder, or a git repository in pip's `git+URL[@REF][#subdirectory=DIR]` form.

pip's form is the one people already write for "a folder inside a repository at some branch", so a
SPEC copied from a requirements file means the same thing here. An `http(s)://` address without
`git+` is a blog on the web: its home page or its feed (see `bot.sources.web`).

Git URLs may carry credentials (`https://user:token@host/...`). Everything a person or a log sees
goes through `redact`, and the source `name` (the store's key) is built without them, so a token
never reaches a log line, an error, `/about` or the database. Credentials that could never be
used are refused rather than carried along (a password in a git://, file:// or ssh address, one
holding an unencoded "/", "?" or "#"), and so is git's `transport::address` form, whose `ext::`
runs any command: Kiji clones over https, http, ssh, git and file only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

GIT_PREFIX = "git+"
_URL_SCHEMES = ("https", "http", "ssh", "git", "file")
# A URL anywhere in free text: its scheme, then everything up to the next space (quotes included,
# since a password may hold one; what follows a URL in git's messages is harmless to keep or cut).
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>\S*)")
# git's own messages name a host with its userinfo bare ("unable to look up user:pw@host"): a word
# holding ":" (not "://") and then, at its LAST "@" followed by a host, the end of the userinfo.
# A SPEC's display (`git+host:path@ref`, already without userinfo) is left alone.
_BARE_USERINFO = re.compile(r"(?<![^\s'\"(<\[])(?!git\+)[^\s'\"/:@]+:(?!//)[^\s'\"]*@(?=[\w\[])")
# scp-like ssh addresses in free text, `user@host:path`: the user goes too.
_SCP_USER = re.compile(r"(?<![^\s'\"(<\[])[^\s'\"/:]+@(?=[\w.\-]+:)")
# An authority that is a host and perhaps a port: `host`, `host:8443`, `[::1]:22`.
_HOST_PORT = re.compile(r"(?:\[[^\]]*\]|[^:\[\]]*)(?::\d*)?")
# scp-like ssh addresses: `user@host:path`, where the user is never a secret but still not shown.
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s]+):(?P<path>(?!//).*)$")
# ... and one written with a password (`user:pw@host:path`), which ssh would never send.
_SCP_PASSWORD = re.compile(r"^[^@/:\s]+:\S*?@[^@/:\s]+:")
# git's `transport::address` form (`ext::sh -c …`, `fd::3`) runs a program of git's remote helpers.
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
# What git refuses in a ref name (git-check-ref-format(1)), plus a leading "-" that would read as an option.
_BAD_REF = re.compile(r"(^-)|(\.\.)|([\x00-\x20\x7f~^:?*\[\\])|(@\{)|(^/)|(/$)|(\.lock$)|(^@$)|(//)|(\.$)")
_ENCODE_HINT = "percent-encode them in the user and password (/ as %2F, ? as %3F, # as %23)"


class SpecError(ValueError):
    """A SPEC cannot be used; the message names the SPEC (redacted) and says how to write it."""


def redact(text: str) -> str:
    """`text` with the userinfo of every address in it removed: for any display, log line or error.

    Works on free text (git's stderr, exception messages), not only on a single URL, and knows
    every form git or Kiji prints: `scheme://user:pw@host` of any scheme (with a password holding
    an unencoded "/", "?", "#" or "@" too), scp-like `user@host:path`, and git's bare
    `user:pw@host`. It leans to cutting too much: it is for showing, never for using.
    """
    text = _URL.sub(lambda match: match["scheme"] + match["rest"][_userinfo_end(match["rest"]) :], text)
    text = _BARE_USERINFO.sub("", text)
    return _SCP_USER.sub("", text)


def _userinfo_end(after: str) -> int:
    """Where the userinfo of a URL ends (just past its "@"), in the text after `scheme://`; 0 if none.

    Normally the authority's last "@" before the first "/", "?" or "#". A password holding one of
    those unencoded (`https://me:pa/ss@host/...`) tangles the URL; then the URL's last "@" is taken.
    """
    authority_end = min((i for i in (after.find(c) for c in "/?#") if i >= 0), default=len(after))
    at = after.rfind("@", 0, authority_end)
    if at >= 0:
        return at + 1
    return after.rfind("@") + 1 if _tangled(after, authority_end) else 0


def _tangled(after: str, authority_end: int) -> bool:
    """Whether an "@" after the authority ends a password holding "/", "?" or "#" rather than a path.

    After a "?" or "#" it always may; after a "/" only when the authority, cut short, is no
    `host[:port]` (`me:pa` is not). A password starting with digits then "/" (`me:12/x@host`)
    cannot be told from a port: git reads it that way too, and connects to the host `me`.
    """
    if after.rfind("@") < authority_end:
        return False
    return after[authority_end] in "?#" or _HOST_PORT.fullmatch(after[:authority_end]) is None


def split_userinfo(url: str) -> tuple[str | None, str]:
    """(userinfo or None, the URL without it), for `scheme://` URLs and scp-like `user@host:path`."""
    if "://" in url:
        scheme, _, after = url.partition("://")
        end = _userinfo_end(after)
        return (after[: end - 1], f"{scheme}://{after[end:]}") if end else (None, url)
    match = re.match(r"^(?P<info>\S*)@(?=[^@/:\s]+:)", url)
    return (match["info"], url[match.end() :]) if match else (None, url)


@dataclass(frozen=True, slots=True)
class FolderSpec:
    """A Jekyll site root (has `_config.yml`) or a plain folder of posts on this disk."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.expanduser().resolve().as_posix()

    @property
    def display(self) -> str:
        return str(self.path)


@dataclass(frozen=True, slots=True)
class GitSpec:
    """A git repository, an optional branch/tag/commit and the site's folder inside it.

    `url` is what git is given and may hold credentials: it is kept out of `repr()`; show `display`.
    """

    url: str = field(repr=False)
    ref: str | None = None
    subdirectory: str | None = None

    @property
    def display(self) -> str:
        """The SPEC as a person wrote it, minus credentials."""
        text = GIT_PREFIX + split_userinfo(self.url)[1]
        if self.ref:
            text += f"@{self.ref}"
        if self.subdirectory:
            text += f"#subdirectory={self.subdirectory}"
        return text

    @property
    def repository_key(self) -> str:
        """host/path of the repository, for matching webhook payloads: see `repository_key`."""
        return repository_key(self.url)

    @property
    def name(self) -> str:
        """A stable key: host and path, then `@ref` and `#dir` when given; no scheme, port or credentials.

        Changing a token in the URL, or moving from https to ssh, keeps the same name (and posts).
        """
        host, path = _host_and_path(self.url)
        text = f"{host}/{path}" if host else f"/{path}"
        if self.ref:
            text += f"@{self.ref}"
        if self.subdirectory:
            text += f"#{self.subdirectory}"
        return text


@dataclass(frozen=True, slots=True)
class WebSpec:
    """A blog on the web: the address of its home page or of its feed."""

    url: str = field(repr=False)

    @property
    def display(self) -> str:
        return redact(self.url)

    @property
    def name(self) -> str:
        """scheme, host and path, without credentials, fragment or a trailing slash: the store's key."""
        parts = urlsplit(self.url)
        host = (parts.hostname or "").lower()
        if parts.port:
            host = f"{host}:{parts.port}"
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.scheme.lower()}://{host}{parts.path.rstrip('/')}{query}"


Spec = FolderSpec | GitSpec | WebSpec


def parse_spec(text: str) -> Spec:
    """Read one SPEC; raises SpecError naming what is wrong."""
    spec = text.strip()
    if not spec:
        raise SpecError("an empty source SPEC; give a folder or git+URL[@REF][#subdirectory=DIR]")
    if spec.startswith(GIT_PREFIX):
        return _parse_git(spec[len(GIT_PREFIX) :])
    scheme = urlsplit(spec).scheme.lower() if "://" in spec else ""
    if scheme in ("http", "https"):
        if not urlsplit(spec).hostname:
            raise SpecError(f"{redact(spec)}: the address has no host; write https://your.blog/")
        return WebSpec(spec)
    if scheme:
        raise SpecError(f"{redact(spec)}: a git repository SPEC starts with git+ (git+{redact(spec)})")
    return FolderSpec(Path(spec).expanduser())


def parse_specs(text: str) -> list[Spec]:
    """KIJI_SOURCES: SPECs separated by whitespace; the same source twice is an error, not two blogs."""
    specs = [parse_spec(part) for part in text.split()]
    seen: dict[str, Spec] = {}
    for spec in specs:
        if spec.name in seen:
            raise SpecError(f"{spec.display} is listed twice (as {seen[spec.name].display}); keep one")
        seen[spec.name] = spec
    return specs


def _parse_git(rest: str) -> GitSpec:
    shown = GIT_PREFIX + split_userinfo(rest)[1]
    if _TRANSPORT.match(rest):
        raise SpecError(
            f"{shown}: git's transport::address form runs one of git's helper programs (ext:: runs any "
            "command); Kiji clones only https, http, ssh, git and file URLs and scp-like user@host:path"
        )
    if "://" in rest:
        after = rest.partition("://")[2]
        authority_end = min((i for i in (after.find(c) for c in "/?#") if i >= 0), default=len(after))
        if "@" not in after[:authority_end] and _tangled(after, authority_end):
            raise SpecError(f"{shown}: the URL's user or password holds an unencoded '/', '?' or '#'; {_ENCODE_HINT}")
    elif _SCP_PASSWORD.match(rest):
        raise SpecError(f"{shown}: ssh logs in with a key, never with a password written in the address; remove it")
    rest, _, fragment = rest.partition("#")
    subdirectory = _parse_fragment(fragment, shown) if fragment else None
    url, ref = _split_ref(rest)
    if not url:
        raise SpecError(f"{shown}: no repository URL after git+")
    if url.startswith("-"):
        raise SpecError(f"{shown}: a repository URL cannot start with '-'")
    if "://" in url:
        _check_url(url, shown)
    elif not _SCP_LIKE.match(url):
        raise SpecError(
            f"{shown}: not a URL git clones; write git+https://host/owner/repo.git, git+ssh://…, or git+git@host:path"
        )
    if ref is not None and (not ref or _BAD_REF.search(ref)):
        raise SpecError(f"{shown}: {ref!r} is not a branch, tag or commit name git accepts")
    return GitSpec(url=url, ref=ref, subdirectory=subdirectory)


def _check_url(url: str, shown: str) -> None:
    """SpecError for a `scheme://` URL git would not clone, or whose credentials it would not use."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _URL_SCHEMES:
        raise SpecError(f"{shown}: git+{parts.scheme}:// is not a scheme git clones; use https, ssh, git or file")
    if scheme != "file" and not parts.hostname:
        raise SpecError(f"{shown}: the URL has no host")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
    except ValueError:
        raise SpecError(
            f"{shown}: the URL's port is not a number; if a password holds ':' or '/', {_ENCODE_HINT}"
        ) from None
    if not parts.path.strip("/"):
        raise SpecError(f"{shown}: the URL has no repository path")
    if "@" in parts.netloc and scheme in ("git", "file"):
        raise SpecError(
            f"{shown}: a {scheme}:// URL has no login, so a user or password in it is never used; remove it"
        )
    if "@" in parts.netloc and scheme == "ssh" and parts.password is not None:
        raise SpecError(f"{shown}: ssh logs in with a key, never with a password written in the URL; remove it")


def _split_ref(rest: str) -> tuple[str, str | None]:
    """Split `URL@REF`: the "@" must come after the start of the path, so `user@host` stays in the URL."""
    if "://" in rest:
        scheme, _, after = rest.partition("://")
        authority, slash, path = after.partition("/")
        if "@" in path:
            path, _, ref = path.rpartition("@")
            return f"{scheme}://{authority}{slash}{path}", ref
        return rest, None
    match = _SCP_LIKE.match(rest)
    if match and "@" in match["path"]:
        head = rest[: match.start("path")]
        path, _, ref = match["path"].rpartition("@")
        return head + path, ref
    return rest, None


def _parse_fragment(fragment: str, shown: str) -> str:
    values: dict[str, str] = {}
    for item in fragment.split("&"):
        key, eq, value = item.partition("=")
        if not eq or key != "subdirectory":
            said = f", not #{item}" if "@" not in item else ""  # an "@" after "#": the rest of a password?
            raise SpecError(f"{shown}: only #subdirectory=DIR may follow the URL{said}")
        values[key] = unquote(value)
    raw = values["subdirectory"].replace("\\", "/")
    parts = [part for part in PurePosixPath(raw).parts if part not in ("/", ".")]
    if raw.startswith("/") or ".." in parts or not parts:
        raise SpecError(f"{shown}: subdirectory={raw!r} must be a folder inside the repository, like docs or site/blog")
    return "/".join(parts)


def _host_and_path(url: str) -> tuple[str, str]:
    """(host without port or userinfo, path without leading/trailing "/" and ".git")."""
    url = split_userinfo(url)[1]  # whatever form it has: a name is shown and stored
    if "://" in url:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        path = parts.path
    else:
        match = _SCP_LIKE.match(url)
        host, path = (match["host"].lower(), match["path"]) if match else ("", url)
    path = unquote(path).strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    return host, path.rstrip("/")


def repository_key(url: str) -> str:
    """The same key for every way of writing one repository's URL: https, ssh, scp-like, with or without .git.

    Webhook payloads name a repository by its clone/ssh/web URLs; comparing these keys matches them
    to the configured sources without caring about credentials, scheme, port or letter case.
    """
    host, path = _host_and_path(url.strip())
    return f"{host}/{path}".casefold()
