"""Git source benchmark: ~2,500 real posts (the corpus sample replicated) served by a local `git daemon`.

Measured in one run, each against a baseline taken on the same files:

* cold ingest from git: a fresh clone (blobless, sparse) of the repository by `GitSource`, and the
  first `ingest_source` into a fresh store, against the cold ingest of the same checkout as a plain
  folder (`FolderSource`) into another fresh store. Target: ratio <= 1.3. The same with a full clone
  (`clone_filter=None`) shows whether the partial clone pays.
* the repository has a history (edits of many posts) and an `assets/` folder of photos that are
  not posts, as a real blog's has: what a blobless, sparse clone leaves on the server.
* a no-op poll (fetch with nothing new) as a whole process: start Python, open the store, poll,
  ingest nothing, exit. Target: <= 1.5 s. And the CPU one idle poll costs inside a running process
  (this process and its git children). Target: <= 20 ms.

Run: `.venv/bin/python -m bench.git_bench [--json PATH] [--copies 41] [--repeat 2]`.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench._common import CORPUS, ROOT, Row, base_parser, emit, ms, secs, verdict
from bot.services.ingest import ingest_source
from bot.sources.folder import FolderSource
from bot.sources.git import GitSource
from bot.sources.specs import GitSpec, parse_spec
from bot.store import Store

WORK = Path("/tmp/kiji-bench/git")
TARGET_COLD_RATIO = 1.3
TARGET_NOOP_PROCESS_SECONDS = 1.5
TARGET_IDLE_POLL_CPU_SECONDS = 0.020
HISTORY_COMMITS = 10
HISTORY_EDITS = 200  # posts edited per history commit
ASSET_MB = 8
_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.org",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.org",
}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=_ENV, check=True, capture_output=True, text=True).stdout


def build_repository(copies: int) -> tuple[Path, int]:
    """A bare repository under WORK/served: the replicated site, a history of edits, and photos."""
    for name in ("served", "writer"):
        shutil.rmtree(WORK / name, ignore_errors=True)
    work = WORK / "writer"
    posts = work / "_posts"
    posts.mkdir(parents=True)
    shutil.copy2(CORPUS / "_config.yml", work / "_config.yml")
    originals = sorted(p for p in (CORPUS / "_posts").iterdir() if p.suffix == ".md")
    for original in originals:
        data = original.read_bytes()
        for copy in range(copies):
            (posts / f"{original.name[:11]}r{copy:02d}-{original.name[11:]}").write_bytes(data)
    (work / "assets").mkdir()
    for index in range(ASSET_MB):
        (work / "assets" / f"photo-{index}.jpg").write_bytes(os.urandom(1024 * 1024))
    git("init", "--quiet", "--initial-branch=main", str(work))
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "Import", cwd=work)
    names = sorted(posts.iterdir())
    for round_ in range(HISTORY_COMMITS):
        for path in names[round_ * 7 % len(names) :][:HISTORY_EDITS]:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"\n\nEdited in round {round_}.\n")
        git("commit", "--quiet", "--all", "-m", f"Edits, round {round_}", cwd=work)
    bare = WORK / "served" / "blog.git"
    git("clone", "--quiet", "--bare", str(work), str(bare))
    git("config", "uploadpack.allowFilter", "true", cwd=bare)
    return bare, len(names)


class Daemon:
    def __init__(self, root: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        exec_path = Path(git("--exec-path").strip())
        self.process = subprocess.Popen(
            [str(exec_path / "git-daemon"), "--verbose", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
             f"--port={self.port}", f"--base-path={root}", str(root)],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if "Ready to rumble" in line:
                break
        else:
            raise RuntimeError("git daemon did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def spec_for(port: int) -> GitSpec:
    spec = parse_spec(f"git+git://127.0.0.1:{port}/blog.git")
    assert isinstance(spec, GitSpec)
    return spec


def folder_bytes(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def fresh_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


async def cold_git(port: int, clone_filter: str | None, run: int) -> tuple[float, int, GitSource, Path]:
    kind = (clone_filter or "full").replace(":", "-")
    data, db = WORK / f"data-{kind}-{run}", WORK / f"git-{kind}-{run}.sqlite3"
    shutil.rmtree(data, ignore_errors=True)
    fresh_database(db)
    store = await Store.open(db)
    source = GitSource(spec_for(port), data, clone_filter=clone_filter)
    started = time.perf_counter()
    report = await ingest_source(store, source)
    seconds = time.perf_counter() - started
    await store.close()
    return seconds, report.added, source, db


async def cold_folder(root: Path, run: int) -> tuple[float, int]:
    db = WORK / f"folder-{run}.sqlite3"
    fresh_database(db)
    store = await Store.open(db)
    started = time.perf_counter()
    report = await ingest_source(store, FolderSource(root))
    seconds = time.perf_counter() - started
    await store.close()
    return seconds, report.added


_NOOP_SCRIPT = """
import time
started = time.perf_counter()
import asyncio, json, sys
from pathlib import Path
from bot.services.ingest import ingest_source
from bot.sources.factory import source_from_spec
from bot.sources.specs import parse_spec
from bot.store import Store
imported = time.perf_counter()

async def main():
    store = await Store.open(sys.argv[3])
    opened = time.perf_counter()
    source = source_from_spec(parse_spec(sys.argv[1]), Path(sys.argv[2]))
    version = await store.get_meta("source_version:" + source.name)
    before_poll = time.perf_counter()
    await source.poll(version)
    polled = time.perf_counter()
    report = await ingest_source(store, source)  # polls again: what the bot does every interval
    ingested = time.perf_counter()
    await store.close()
    assert report.added == report.updated == report.removed == 0, report
    print(json.dumps({"imports": imported - started, "store_open": opened - imported,
                      "first_poll": polled - before_poll, "ingest_source": ingested - polled}))

asyncio.run(main())
"""


def noop_process(port: int, data: Path, db: Path) -> tuple[float, dict[str, float]]:
    """(whole process seconds, its parts) for a no-op `ingest_source` in a fresh process."""
    command = [sys.executable, "-c", _NOOP_SCRIPT, f"git+git://127.0.0.1:{port}/blog.git", str(data), str(db)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, json.loads(done.stdout)


async def clone_only(port: int, clone_filter: str | None) -> float:
    """Seconds for the first poll alone (clone and checkout): git's share of a cold ingest."""
    data = WORK / "clone-only"
    shutil.rmtree(data, ignore_errors=True)
    source = GitSource(spec_for(port), data, clone_filter=clone_filter)
    started = time.perf_counter()
    await source.poll(None)
    return time.perf_counter() - started


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def idle_poll_cpu(source: GitSource, version: str, polls: int) -> tuple[float, float]:
    """(CPU seconds per idle poll, wall seconds per idle poll), this process and its git children."""
    await source.poll(version)
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(polls):
        await source.poll(version)
    return (cpu_seconds() - cpu) / polls, (time.perf_counter() - wall) / polls


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--copies", type=int, default=41, help="copies of each sample post (default 41 → ~2,500)")
    parser.add_argument("--repeat", type=int, default=2, help="repeat the cold ingests, keep the fastest (default 2)")
    parser.add_argument("--polls", type=int, default=20, help="idle polls to average (default 20)")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"building the repository under {WORK} …", file=sys.stderr)
    bare, post_count = build_repository(args.copies)
    daemon = Daemon(bare.parent)
    try:
        runs: dict[str, list[float]] = {"partial": [], "full": [], "folder": []}
        added: dict[str, int] = {}
        last: dict[str, tuple[GitSource, Path]] = {}
        for run in range(max(1, args.repeat)):
            for kind, clone_filter in (("partial", "blob:none"), ("full", None)):
                seconds, count, source, db = asyncio.run(cold_git(daemon.port, clone_filter, run))
                runs[kind].append(seconds)
                added[kind] = count
                last[kind] = (source, db)
            seconds, added["folder"] = asyncio.run(cold_folder(last["full"][0].checkout, run))
            runs["folder"].append(seconds)
        best = {kind: min(values) for kind, values in runs.items()}
        partial_source, partial_db = last["partial"]
        full_source = last["full"][0]
        version = git("rev-parse", "HEAD", cwd=bare).strip()
        clones = {
            kind: min(asyncio.run(clone_only(daemon.port, clone_filter)) for _ in range(max(1, args.repeat)))
            for kind, clone_filter in (("partial", "blob:none"), ("full", None))
        }
        noop, noop_parts = min(
            (noop_process(daemon.port, partial_source.checkout.parent.parent, partial_db) for _ in range(3)),
            key=lambda run: run[0],
        )
        idle_cpu, idle_wall = asyncio.run(idle_poll_cpu(partial_source, version, args.polls))
        sizes = {
            "partial": folder_bytes(partial_source.checkout / ".git"),
            "full": folder_bytes(full_source.checkout / ".git"),
            "repository": folder_bytes(bare),
        }
    finally:
        daemon.stop()

    ratio = best["partial"] / best["folder"]
    full_ratio = best["full"] / best["folder"]
    rows = [
        Row("posts in the repository", str(post_count)),
        Row("posts ingested (partial / full / folder)", f"{added['partial']} / {added['full']} / {added['folder']}"),
        Row(
            "cold ingest from git daemon, blobless + sparse clone",
            secs(best["partial"]),
            secs(best["folder"]) + " (folder)",
            f"{ratio:.2f}",
            f"<= {TARGET_COLD_RATIO}",
            verdict(ratio <= TARGET_COLD_RATIO),
        ),
        Row(
            "cold ingest from git daemon, full clone",
            secs(best["full"]),
            secs(best["folder"]) + " (folder)",
            f"{full_ratio:.2f}",
            "reference",
        ),
        Row(
            "clone + checkout alone (blobless + sparse / full)",
            secs(clones["partial"]),
            secs(clones["full"]),
            f"{clones['partial'] / clones['full']:.2f}",
        ),
        Row(
            ".git size after the clone (blobless / full)",
            f"{sizes['partial'] / 1e6:.1f} MB",
            f"{sizes['full'] / 1e6:.1f} MB",
            f"{sizes['partial'] / sizes['full']:.2f}",
        ),
        Row(
            "no-op poll, whole process",
            secs(noop),
            "",
            "",
            f"<= {TARGET_NOOP_PROCESS_SECONDS} s",
            verdict(noop <= TARGET_NOOP_PROCESS_SECONDS),
        ),
        Row(
            "  of which: imports / Store.open / first poll / ingest_source",
            " / ".join(secs(noop_parts[part]) for part in ("imports", "store_open", "first_poll", "ingest_source")),
        ),
        Row(
            "idle poll in a running process: CPU (self + git)",
            ms(idle_cpu),
            ms(idle_wall) + " wall",
            "",
            f"<= {TARGET_IDLE_POLL_CPU_SECONDS * 1000:.0f} ms",
            verdict(idle_cpu <= TARGET_IDLE_POLL_CPU_SECONDS),
        ),
    ]
    raw = {
        "runs": runs,
        "clone_seconds": clones,
        "sizes": sizes,
        "noop_process_seconds": noop,
        "noop_parts": noop_parts,
        "idle_poll_cpu_seconds": idle_cpu,
    }
    emit("Git source: cold ingest and polls", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
