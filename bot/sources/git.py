"""A blog that lives in a git repository: cloned once, fetched on every poll, diffed tree to tree.

Why git itself, run as a subprocess, rather than a library (dulwich, pygit2, GitPython):
- it is what the blog's own pipeline and every server speak, and it keeps up with them: protocol
  v2, partial clone (`--filter=blob:none`), sparse checkout, rename detection;
- private repositories work the way their owners already set them up: SSH keys and
  `~/.ssh/config`, credential helpers, `url.insteadOf`, proxies, a token in the URL;
- no new dependency, no C extension to build, and a hung server is a process we can kill.
The costs: a process per command (a no-op poll is two: `fetch` and `rev-parse`), and parsing
git's output, which `-z` makes exact. See `git_runner` for how git is run.

Clone: blobless (`--filter=blob:none`) with no checkout, then a sparse checkout of only what
ingest reads (`_config.yml` and every `_posts` folder of the site, or the whole posts folder).
A blobless clone has every commit and tree, so any two versions can be compared later without
the network, but only the blobs of the files checked out; images, drafts and history cost
nothing. Shallow clones were not used: every later fetch makes the server compute the shallow
boundary, and a history we cut cannot be diffed. A server without partial clone makes git warn
and send everything, which works the same, only bigger (`status().extra["partial clone"]`).

Poll: `git fetch`, then the target commit (the REF, or the remote's default branch). The changes
are `git diff --name-status -M -z OLD NEW`: a comparison of two trees, not of ancestry, so a
force-push or a rewritten history reports only what differs, and nothing already there is new.
Renames come out as renames, so a post keeps its identity. An unknown or missing OLD version
(first poll, a store from elsewhere, a garbage-collected commit) answers "walk the site".
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from bot.sources.base import Changes, SourceError, SourceStatus
from bot.sources.git_runner import GitCredentials, GitRunner
from bot.sources.post_files import DATE_NAME
from bot.sources.specs import GitSpec

log = logging.getLogger(__name__)

NETWORK_TIMEOUT = 120.0  # fetch, and the lazy blob fetch of a checkout
CLONE_TIMEOUT = 900.0  # a first clone of a large blog over a slow link
LOCAL_TIMEOUT = 60.0  # rev-parse, ls-tree, diff: local, but a disk can stall
BACKOFF_BASE = 30.0
BACKOFF_MAX = 3600.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_POSTS_EXTENSIONS = (".md", ".markdown", ".mkdown", ".mkdn", ".mkd", ".html", ".htm")


class GitSource:
    """The Source of a git repository (see the module docstring); `poll` honours a retry backoff."""

    def __init__(
        self,
        spec: GitSpec,
        data_dir: Path | str,
        *,
        clock: Callable[[], float] = time.time,
        git: str = "git",
        clone_filter: str | None = "blob:none",
        network_timeout: float = NETWORK_TIMEOUT,
        clone_timeout: float = CLONE_TIMEOUT,
        backoff_base: float = BACKOFF_BASE,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self._spec = spec
        self._clock = clock
        self._clone_filter = clone_filter
        self._network_timeout = network_timeout
        self._clone_timeout = clone_timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        digest = hashlib.blake2b(spec.name.encode(), digest_size=6).hexdigest()
        self.checkout = Path(data_dir).absolute() / "git" / f"{_SAFE.sub('-', spec.name).strip('-')[:60]}-{digest}"
        self._credentials = GitCredentials.from_url(spec.url)
        self.runner = GitRunner(self._credentials, git=git, display=spec.display, ceiling=self.checkout.parent)
        self._lock = asyncio.Lock()
        self._head: str | None = None  # the commit checked out, once known
        self._sparse: str | None = None  # the sparse-checkout patterns in force
        self._target: str | None = None  # which spelling of REF resolved last time
        self._remote_set = False
        self._layout: tuple[str, str, list[str]] | None = None  # (commit, sparse patterns, diff pathspecs)
        self._partial: bool | None = None
        self.last_success_at: float | None = None
        self.last_error: str | None = None
        self.next_retry_at: float | None = None
        self._failures = 0

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def display(self) -> str:
        return self._spec.display

    @property
    def repository_key(self) -> str:
        return self._spec.repository_key

    @property
    def site_root(self) -> Path:
        return self.checkout / self._spec.subdirectory if self._spec.subdirectory else self.checkout

    def status(self) -> SourceStatus:
        extra = {"kind": "git"}
        if self._head:
            extra["commit"] = self._head[:12]
        if self._partial is not None:
            extra["partial clone"] = "yes" if self._partial else "no (the server does not offer it)"
        return SourceStatus(
            name=self.name,
            display=self.display,
            last_success_at=self.last_success_at,
            last_error=self.last_error,
            next_retry_at=self.next_retry_at,
            extra=extra,
        )

    def request_poll(self) -> None:
        """Let the next poll run now, whatever the backoff says (a push webhook arrived)."""
        self.next_retry_at = None

    async def poll(self, since: str | None) -> Changes:
        async with self._lock:
            now = self._clock()
            if self.next_retry_at is not None and now < self.next_retry_at:
                raise SourceError(f"{self.last_error} (next attempt in {self.next_retry_at - now:.0f} s)")
            try:
                changes = await self._update(since)
            except SourceError as exc:
                self._failures += 1
                delay = min(self._backoff_base * 2 ** (self._failures - 1), self._backoff_max)
                self.last_error = str(exc)
                self.next_retry_at = self._clock() + delay
                # Whoever polls again says so (the bot: "trying again at the next poll"); a one-shot
                # `kiji ingest` never does, so nothing here promises a retry.
                log.debug("%s (no new attempt for %.0f s)", exc, delay)
                raise
            self._failures = 0
            self.last_error = None
            self.next_retry_at = None
            self.last_success_at = self._clock()
            return changes

    # ------------------------------------------------------------------------------------ steps

    async def _update(self, since: str | None) -> Changes:
        if (self.checkout / ".git").is_dir():
            if self._head is None:
                self._resume()
            try:
                await self._fetch()
            except SourceError:
                if await self._is_repository():
                    raise
                log.warning("%s: the clone in %s is damaged; cloning again", self.display, self.checkout)
                await asyncio.to_thread(shutil.rmtree, self.checkout)
                self._head = self._sparse = self._layout = None
                await self._clone()
        else:
            await self._clone()
        new = await self._resolve_target()
        if self._layout is None or self._layout[0] != new:
            self._layout = (new, *await self._site_layout(new))
        _, kind_patterns, pathspecs = self._layout
        await self._check_out(new, kind_patterns)
        if since is None:
            return Changes(version=new, complete=False)
        if since == new:
            return Changes(version=new, complete=True)
        if not await self._has_commit(since):
            log.info("%s: the last ingested version %s is not in the clone; walking the site", self.display, since)
            return Changes(version=new, complete=False)
        return await self._diff(since, new, pathspecs)

    async def _git(self, *args: str, network: bool = False, time_limit: float | None = None, check: bool = True):
        return await self.runner.run(
            *args,
            cwd=self.checkout,
            network=network,
            time_limit=time_limit or (self._network_timeout if network else LOCAL_TIMEOUT),
            check=check,
        )

    async def _clone(self) -> None:
        """Clone into a folder beside the final one and move it in place: a half clone is never used."""
        started = time.perf_counter()
        partial = self.checkout.with_name(self.checkout.name + ".cloning")
        await asyncio.to_thread(shutil.rmtree, partial, True)
        made = [folder for folder in (partial.parent, *partial.parent.parents) if not folder.exists()]
        partial.parent.mkdir(parents=True, exist_ok=True)
        filter_args = [f"--filter={self._clone_filter}"] if self._clone_filter else []
        try:
            result = await self.runner.run(
                "clone", "--quiet", "--no-checkout", "--origin", "origin", *filter_args,
                "--", self._credentials.url, str(partial),
                cwd=partial.parent, network=True, time_limit=self._clone_timeout,
            )  # fmt: skip
        except BaseException:  # failed or cancelled: leave no half clone, nor the folders made for it
            await asyncio.to_thread(_remove_clone, partial, made)
            raise
        self._partial = bool(filter_args) and "filtering not recognized" not in result.stderr
        await asyncio.to_thread(os.replace, partial, self.checkout)
        self._remote_set = True
        log.info(
            "%s: cloned in %.2f s (partial clone: %s)",
            self.display,
            time.perf_counter() - started,
            "yes" if self._partial else "no",
        )

    def _resume(self) -> None:
        """After a restart: what the clone already holds, so an unchanged poll checks nothing out again.

        A detached HEAD file holds the commit's id, and the sparse-checkout file the patterns; both
        are git's documented on-disk formats, read here to save two processes per restart.
        """
        git_dir = self.checkout / ".git"
        try:
            head = (git_dir / "HEAD").read_text(encoding="ascii").strip()
            patterns = (git_dir / "info" / "sparse-checkout").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return
        if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", head):
            self._head, self._sparse = head, patterns

    async def _is_repository(self) -> bool:
        result = await self._git("rev-parse", "--git-dir", check=False)
        return result.returncode == 0

    async def _fetch(self) -> None:
        if not self._remote_set:  # the URL may have changed (a new token, https to ssh): same name, same clone
            await self._git("remote", "set-url", "origin", self._credentials.url)
            self._remote_set = True
        await self._git("fetch", "--quiet", "--prune", "--tags", "--force", "origin", network=True)

    async def _resolve_target(self, retried: bool = False) -> str:
        ref = self._spec.ref
        spellings = (
            ([f"{self._target}^{{commit}}"] if self._target else [])
            + ([f"refs/remotes/origin/{ref}^{{commit}}", f"refs/tags/{ref}^{{commit}}", f"{ref}^{{commit}}"] if ref
               else ["refs/remotes/origin/HEAD^{commit}"])
        )  # fmt: skip
        for spelling in dict.fromkeys(spellings):
            result = await self._git("rev-parse", "--verify", "--quiet", "--end-of-options", spelling, check=False)
            if result.returncode == 0:
                self._target = spelling.removesuffix("^{commit}")
                return result.stdout.decode().strip()
        if not ref and not retried:
            # The default branch may have been renamed (master to main) and pruned: ask the server again.
            await self._git("remote", "set-head", "origin", "--auto", network=True, check=False)
            return await self._resolve_target(retried=True)
        if ref:
            raise SourceError(f"{self.display}: the repository has no branch, tag or commit named {ref!r}")
        raise SourceError(f"{self.display}: the repository is empty (its default branch has no commit)")

    async def _site_layout(self, commit: str) -> tuple[str, list[str]]:
        """(sparse-checkout patterns, diff pathspecs) for the site in `commit`; SourceError when it is no site."""
        subdirectory = self._spec.subdirectory
        prefix = f"{subdirectory}/" if subdirectory else ""
        result = await self._git("ls-tree", "-z", "--name-only", f"{commit}:{subdirectory or ''}", check=False)
        if result.returncode != 0:
            raise SourceError(f"{self.display}: the repository has no folder {subdirectory!r} at {commit[:12]}")
        names = [os.fsdecode(name) for name in result.stdout.split(b"\0") if name]
        where = f"the folder {subdirectory!r} of the repository" if subdirectory else "the repository"
        if "_config.yml" in names or "_posts" in names:
            patterns = f"/{prefix}_config.yml\n/{prefix}**/_posts/\n" if prefix else "/_config.yml\n_posts/\n"
            return patterns, [f":(top){prefix}_config.yml", f":(top,glob){prefix}**/_posts/**"]
        if any(DATE_NAME.match(name) and name.lower().endswith(_POSTS_EXTENSIONS) for name in names):
            return (f"/{prefix}\n" if prefix else "/*\n"), [f":(top){prefix}" if prefix else ":(top)."]
        raise SourceError(
            f"{self.display}: {where} is not a Jekyll site: no _config.yml, no _posts folder and no dated posts "
            "(YYYY-MM-DD-title.md); point #subdirectory= at the site's folder"
        )

    async def _check_out(self, commit: str, patterns: str) -> None:
        """Make the working tree `commit`, holding only what ingest reads; blobs come in one batch."""
        if commit == self._head and patterns == self._sparse:
            return
        sparse_file = self.checkout / ".git" / "info" / "sparse-checkout"
        reapply = patterns != self._sparse and self._head is not None
        if patterns != self._sparse:
            await self._git("config", "core.sparseCheckout", "true")
            await self._git("config", "core.sparseCheckoutCone", "false")
            sparse_file.parent.mkdir(parents=True, exist_ok=True)
            sparse_file.write_text(patterns, encoding="utf-8")  # last: `_resume` trusts it once it is there
            self._sparse = patterns
        await self._git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach", commit,
                        network=True)  # fmt: skip
        if reapply:
            await self._git("sparse-checkout", "reapply", network=True)
        self._head = commit

    async def _has_commit(self, version: str) -> bool:
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", version):
            return False
        # In a partial clone a missing object is asked of the server, hence `network`: it answers "no".
        result = await self._git("cat-file", "-e", f"{version}^{{commit}}", network=True, check=False)
        return result.returncode == 0

    async def _diff(self, old: str, new: str, pathspecs: list[str]) -> Changes:
        relative = [f"--relative={self._spec.subdirectory}/"] if self._spec.subdirectory else []
        result = await self._git(
            "diff", "--name-status", "-z", "--find-renames", "--no-ext-diff", "--no-textconv", *relative,
            old, new, "--", *pathspecs, network=True,
        )  # fmt: skip
        changed: list[str] = []
        renamed: list[tuple[str, str]] = []
        removed: list[str] = []
        fields = [os.fsdecode(item) for item in result.stdout.split(b"\0")]
        index = 0
        while index < len(fields) and fields[index]:
            status = fields[index][:1]
            if status in ("R", "C"):
                old_path, new_path = fields[index + 1], fields[index + 2]
                index += 3
                if status == "R":
                    renamed.append((old_path, new_path))
                else:
                    changed.append(new_path)
                continue
            path = fields[index + 1]
            index += 2
            (removed if status == "D" else changed).append(path)
        log.info(
            "%s: %s..%s: %d changed, %d renamed, %d removed",
            self.display, old[:12], new[:12], len(changed), len(renamed), len(removed),
        )  # fmt: skip
        return Changes(
            version=new, complete=True, changed=tuple(changed), renamed=tuple(renamed), removed=tuple(removed)
        )


def _remove_clone(partial: Path, made: list[Path]) -> None:
    """Remove a failed clone and the folders created for it (deepest first), unless others appeared there."""
    shutil.rmtree(partial, ignore_errors=True)
    for folder in made:
        try:
            folder.rmdir()
        except OSError:
            break
