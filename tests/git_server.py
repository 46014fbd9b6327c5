"""Pytest plugin: real git servers on 127.0.0.1 serving bare repositories built from the corpus sample.

Two transports, because they fail differently and authenticate differently: `git daemon` (the
`git://` protocol, no authentication) and git's smart HTTP (`git http-backend` run as a CGI behind
a small `http.server`, optionally behind Basic auth). Both serve the same folder of bare
repositories, so one `BlogRemote` can be reached either way.

A `BlogRemote` is a working repository that pushes to its bare repository: tests change the blog
the way its writing pipeline does (commit, push), rewrite its history (force-push), or take the
bare repository away and bring it back. Nothing here knows Kiji.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

GIT = shutil.which("git")
_COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "Blog Writer",
    "GIT_AUTHOR_EMAIL": "writer@example.org",
    "GIT_COMMITTER_NAME": "Blog Writer",
    "GIT_COMMITTER_EMAIL": "writer@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git for the test side (building, changing and serving repositories)."""
    if GIT is None:
        pytest.skip("git is not installed")
    env = {**os.environ, **_COMMIT_ENV}
    return subprocess.run([GIT, *args], cwd=cwd, env=env, check=check, capture_output=True, text=True, timeout=60)


def _git_exec_path() -> Path:
    return Path(git("--exec-path").stdout.strip())


def _init_bare(path: Path, allow_filter: bool) -> None:
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    git("config", "uploadpack.allowFilter", "true" if allow_filter else "false", cwd=path)
    git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=path)
    git("config", "http.receivepack", "false", cwd=path)


@dataclass
class BlogRemote:
    """One blog's repository: a bare repository the servers serve, and the writer's checkout pushing to it."""

    name: str
    served_root: Path
    work: Path
    subdirectory: str = ""  # where the site is inside the repository
    pushes: int = 0

    @property
    def bare(self) -> Path:
        return self.served_root / f"{self.name}.git"

    # ----------------------------------------------------------------------- changing the blog

    def write(self, rel_path: str, text: str) -> None:
        path = self.work / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():  # replace the link, never write through it
            path.unlink()
        path.write_text(text, encoding="utf-8")

    def symlink(self, rel_path: str, target: str) -> None:
        """A symlink in the repository (git keeps `target` as written), replacing what was at `rel_path`."""
        path = self.work / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.symlink_to(target)

    def read(self, rel_path: str) -> str:
        return (self.work / rel_path).read_text(encoding="utf-8")

    def rename(self, old: str, new: str) -> None:
        (self.work / new).parent.mkdir(parents=True, exist_ok=True)
        git("mv", old, new, cwd=self.work)

    def delete(self, rel_path: str) -> None:
        git("rm", "--quiet", rel_path, cwd=self.work)

    def commit(self, message: str) -> str:
        """Commit everything in the checkout and push it; returns the new commit's id."""
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        return self.push()

    def push(self, force: bool = False) -> str:
        git("push", "--quiet", *(["--force"] if force else []), "origin", "HEAD:refs/heads/main", cwd=self.work)
        self.pushes += 1
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work).stdout.strip()

    def rewrite_history(self, message: str = "Squash the whole history into one commit") -> str:
        """Replace every commit with one new root commit of the checkout as it is, and force-push it.

        The history shares no commit with the old one: what a `git rebase`,
        a `filter-repo` or a re-created repository does to a follower.
        """
        git("add", "--all", cwd=self.work)
        tree = git("write-tree", cwd=self.work).stdout.strip()
        commit = git("commit-tree", tree, "-m", message, cwd=self.work).stdout.strip()
        git("reset", "--quiet", "--hard", commit, cwd=self.work)
        return self.push(force=True)

    # ----------------------------------------------------------------------- the remote going away

    def take_away(self) -> None:
        """The repository disappears from the server (deleted, renamed, made private)."""
        self.bare.rename(self.bare.with_name(self.bare.name + ".away"))

    def bring_back(self) -> None:
        self.bare.with_name(self.bare.name + ".away").rename(self.bare)

    def posts(self) -> list[str]:
        return sorted(path.name for path in (self.work / self.subdirectory / "_posts").iterdir())


class GitDaemon:
    """`git daemon` on 127.0.0.1, exporting every repository below `root` read-only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.log: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        for _ in range(5):  # a free port can be taken between finding it and the daemon binding it
            self.port = _free_port()
            self._process = subprocess.Popen(
                [
                    str(_git_exec_path() / "git-daemon"),
                    "--verbose",
                    "--reuseaddr",
                    "--export-all",
                    "--listen=127.0.0.1",
                    f"--port={self.port}",
                    f"--base-path={self.root}",
                    str(self.root),
                ],
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env={**os.environ, **_COMMIT_ENV},
            )
            assert self._process.stderr is not None
            for line in self._process.stderr:  # the daemon says so once it listens
                self.log.append(line)
                if "Ready to rumble" in line:
                    threading.Thread(target=self._drain, daemon=True).start()
                    return
            self._process.wait(timeout=10)
        raise RuntimeError(f"git daemon did not start: {''.join(self.log[-5:])}")

    def _drain(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self.log.append(line)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def url(self, remote: BlogRemote) -> str:
        return f"git://127.0.0.1:{self.port}/{remote.bare.relative_to(self.root).as_posix()}"


@dataclass
class HttpRequestSeen:
    method: str
    path: str
    status: int
    authorized: bool


@dataclass
class GitHttpServer:
    """git's smart HTTP: `git http-backend` as a CGI, with Basic auth when `credentials` are given."""

    root: Path
    credentials: tuple[str, str] | None = None
    requests: list[HttpRequestSeen] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        backend = str(_git_exec_path() / "git-http-backend")
        owner = self

        class Handler(_CgiHandler):
            git_backend = backend
            server_owner = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, remote: BlogRemote, userinfo: str | None = None) -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self.port}/{remote.bare.relative_to(self.root).as_posix()}"


class _CgiHandler(BaseHTTPRequestHandler):
    """Runs `git http-backend` for one request, as a web server's CGI support would."""

    git_backend: str
    server_owner: GitHttpServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # the test reads `requests` instead
        return

    def _authorized(self) -> bool:
        credentials = self.server_owner.credentials
        if credentials is None:
            return True
        expected = "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        return self.headers.get("Authorization", "") == expected

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        authorized = self._authorized()
        if not authorized:
            self.server_owner.requests.append(HttpRequestSeen(self.command, path, 401, False))
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="kiji-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(self.server_owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": self.server_owner.credentials[0] if self.server_owner.credentials else "",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run([self.git_backend], input=body, env=env, capture_output=True, timeout=60, check=False)
        ends = [(at, len(mark)) for mark in (b"\r\n\r\n", b"\n\n") if (at := result.stdout.find(mark)) >= 0]
        at, length = min(ends) if ends else (len(result.stdout), 0)
        head, payload = result.stdout[:at], result.stdout[at + length :]
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.server_owner.requests.append(HttpRequestSeen(self.command, path, status, True))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting to it is refused."""
    return _free_port()


class BlogRemotes:
    """Makes bare repositories under the folder the servers serve."""

    def __init__(self, served_root: Path, work_root: Path, corpus: Path | None) -> None:
        self.served_root = served_root
        self.work_root = work_root
        self.corpus = corpus
        self._count = 0

    def _new(self, name: str | None, allow_filter: bool) -> BlogRemote:
        self._count += 1
        name = name or f"blog{self._count}"
        remote = BlogRemote(name=name, served_root=self.served_root, work=self.work_root / name)
        _init_bare(remote.bare, allow_filter)
        git("init", "--quiet", "--initial-branch=main", str(remote.work))
        git("remote", "add", "origin", str(remote.bare), cwd=remote.work)
        return remote

    def blog(
        self, name: str | None = None, *, subdirectory: str = "", allow_filter: bool = True, posts: int | None = None
    ) -> BlogRemote:
        """A repository holding the corpus sample (at `subdirectory`, when given), one commit pushed.

        `posts` keeps only the first few posts, for tests about changes rather than about the whole blog.
        """
        if self.corpus is None:
            pytest.skip("the corpus sample is absent")
        remote = self._new(name, allow_filter)
        remote.subdirectory = subdirectory
        site = remote.work / subdirectory if subdirectory else remote.work
        site.mkdir(parents=True, exist_ok=True)
        for item in ("_config.yml", "README.md"):
            shutil.copy2(self.corpus / item, site / item)
        (site / "_posts").mkdir()
        for post in sorted((self.corpus / "_posts").iterdir())[:posts]:
            shutil.copy2(post, site / "_posts" / post.name)
        if subdirectory:
            remote.write("README.md", "The blog lives in a folder of this repository.\n")
        remote.commit("Import the blog")
        return remote

    def empty(self, name: str | None = None) -> BlogRemote:
        """A repository with no commit yet: the test writes, commits and pushes what it needs."""
        return self._new(name, True)

    def not_a_site(self, name: str | None = None) -> BlogRemote:
        """A repository of code: no `_config.yml`, no `_posts`, no dated posts."""
        remote = self._new(name, True)
        remote.write("README.md", "# A tool\n\nNot a blog.\n")
        remote.write("src/tool.py", "print('hello')\n")
        remote.commit("A tool")
        return remote


@pytest.fixture(scope="session")
def git_served_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder whose bare repositories both servers serve."""
    if GIT is None:
        pytest.skip("git is not installed")
    return tmp_path_factory.mktemp("git-served")


@pytest.fixture(scope="session")
def git_daemon(git_served_root: Path) -> Iterator[GitDaemon]:
    daemon = GitDaemon(git_served_root)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def git_http(git_served_root: Path) -> Iterator[GitHttpServer]:
    server = GitHttpServer(git_served_root)
    server.start()
    yield server
    server.stop()


GIT_HTTP_USER = "writer"
GIT_HTTP_PASSWORD = "hunter2-Zq7-never-printed"


@pytest.fixture
def git_http_auth(git_served_root: Path) -> Iterator[GitHttpServer]:
    """Smart HTTP requiring Basic auth as GIT_HTTP_USER / GIT_HTTP_PASSWORD."""
    server = GitHttpServer(git_served_root, credentials=(GIT_HTTP_USER, GIT_HTTP_PASSWORD))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def blog_remotes(git_served_root: Path, tmp_path: Path, request: pytest.FixtureRequest) -> BlogRemotes:
    """Makes repositories for this test; the corpus sample is needed only by `blog()`."""
    try:
        corpus: Path | None = request.getfixturevalue("corpus_site")
    except pytest.skip.Exception:
        corpus = None
    served = git_served_root / tmp_path.name
    served.mkdir()
    return BlogRemotes(served, tmp_path / "writer", corpus)
