"""Memory of an idle `kiji run` serving 2,513 posts, and whether keeping it small slows an ingest.

Set-up. The loopback Discord emulator of `bot/emulator` runs in this process, with one guild; `kiji run`
runs as a user starts it (`python -m bot.cli run`, as `tests/kiji_process.py` does) on a plain folder
of 2,513 posts (the corpus sample's posts copied under new names, built once in /tmp/kiji-bench/idle).

Measured:

1. PSS (proportional set size: shared pages split between the processes sharing them, so the sum is
   what the tree really holds) summed over the bot's process tree, read from /proc/PID/smaps_rollup:
   the bot, its ingest process, that process's parse workers (and multiprocessing's resource
   tracker, when a pool needs one). Once right after the start-up ingest; once idle, after a first
   ingest of 20 new posts, when the parse pool has been let go (`POOL_IDLE_S`) and, with
   KIJI_INGEST_IDLE_SECONDS=S (`--ingest-idle-seconds`, Kiji's default 30), the used ingest process
   has been renewed; and once more the same way after two more ingests. Target: idle ≤ 80 MB
   (before issue 21: 126 MB in the issue's measure, 102 MB in this bench's first version).
2. Ingest time per post of 300 new posts after that idle spell (a renewed ingest process, its pool
   forked again) against 301 new posts right after (warm: the same process and pool), each from
   writing the files to the bot's "ingested posts: N added" line (the watcher's debounce is in both;
   each round adds 2 to both counts, so no round's wait ends on an earlier round's line). The ratio is
   what keeping the idle bot small costs an ingest (the issue: "without slowing an ingest"); the
   median of `--rounds` such pairs (default 3), each after its own idle spell.

Linux only (/proc). Run: `.venv/bin/python -m bench.idle_memory [--json PATH]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _p in (str(_ROOT), str(_ROOT / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import asyncio  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from bot_harness import populate  # noqa: E402
from kiji_process import KijiProcess, kiji_env  # noqa: E402

from bench._common import CORPUS, Row, base_parser, emit  # noqa: E402
from bot.emulator import DiscordEmulator  # noqa: E402
from bot.services.ingest_process import POOL_IDLE_S  # noqa: E402

WORK = Path("/tmp/kiji-bench/idle")
POSTS = 2513
TARGET_MB = 80.0


def build_posts(folder: Path, count: int) -> None:
    """`count` posts: the corpus sample's posts again and again, each under a name of its own."""
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sources = sorted((CORPUS / "_posts").glob("*.md"))
    for index in range(count):
        source = sources[index % len(sources)]
        (folder / f"{source.name[:11]}copy{index:05d}-{source.name[11:]}").write_bytes(source.read_bytes())


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found = [pid]
    for member in found:
        for task in Path(f"/proc/{member}/task").glob("*"):
            try:
                found += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def pss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0  # gone meanwhile
    return next(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")) / 1024


def parent_of(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))


def names(root: int, pids: list[int]) -> dict[int, str]:
    """What each process is: a forked child keeps its forkserver's command line, so tell them by ancestry."""
    named = {root: "bot"}
    for pid in pids[1:]:
        try:
            text = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            text = ""
        parent = named.get(parent_of(pid), "?")
        if "resource_tracker" in text:
            named[pid] = "resource tracker"
        elif "forkserver" in text and parent in ("bot", "ingest process"):
            named[pid] = "forkserver" if parent == "bot" else "ingest forkserver"
        elif parent in ("bot", "forkserver"):
            named[pid] = "ingest process"  # spawned by the bot, or forked by its forkserver
        elif parent in ("ingest process", "ingest forkserver"):
            named[pid] = "parse worker"
        else:
            named[pid] = "other"
    return named


def snapshot(pid: int) -> dict[str, Any]:
    pids = tree(pid)
    named = names(pid, pids)
    processes = [(child, named[child], pss_mb(child)) for child in pids]
    return {
        "total_mb": sum(mb for _, _, mb in processes),
        "processes": [{"pid": child, "name": name, "pss_mb": round(mb, 1)} for child, name, mb in processes],
    }


def ingest_process(pid: int) -> int | None:
    named = names(pid, tree(pid))
    return next((child for child, name in named.items() if name == "ingest process"), None)


async def settled(pid: int, timeout_s: float, renewed_from: int | None = None) -> dict[str, Any]:
    """The tree's PSS once its parse workers are gone and, with `renewed_from`, that used ingest process
    has been replaced by a fresh one (or at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        named = names(pid, tree(pid))
        workers = "parse worker" in named.values()
        if not workers and (renewed_from is None or ingest_process(pid) not in (None, renewed_from)):
            break
        await asyncio.sleep(1.0)  # sampling /proc, not waiting on the bot: there is no event to wait for
    await asyncio.sleep(3.0)  # let the exited processes' pages go and the fresh one finish its imports
    return snapshot(pid)


async def timed_ingest(kiji: KijiProcess, folder: Path, start: int, count: int) -> float:
    """Write `count` new posts and time until the bot says it added them."""
    source = sorted((CORPUS / "_posts").glob("*.md"))
    started = time.perf_counter()
    for index in range(start, start + count):
        post = source[index % len(source)]
        (folder / f"2027-01-01-new{index:05d}-{post.name[11:]}").write_bytes(post.read_bytes())
    await kiji.wait_for_line(f"ingested posts: {count} added", timeout_s=300)
    return time.perf_counter() - started


def prepare() -> tuple[Path, Path]:
    """The posts folder and a store holding them (built once; `kiji ingest`), without the posts a run adds.

    The bot starts on a store that is up to date, as a bot restarted on its blog does: the figure is
    the idle bot's, not the aftermath of a first ingest of the whole blog.
    """
    posts, db = WORK / "posts", WORK / "kiji.sqlite3"
    build_posts(posts, POSTS)
    for leftover in posts.glob("2027-01-01-new*"):
        leftover.unlink()
    command = [sys.executable, "-m", "bot.cli", "ingest", "--posts", str(posts), "--db", str(db)]
    subprocess.run(
        command, cwd=_ROOT, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(_ROOT)}
    )
    return posts, db


async def run(posts: Path, db: Path, ingest_idle_s: float, rounds: int) -> dict[str, Any]:
    emu = DiscordEmulator()
    await emu.start()
    result: dict[str, Any] = {}
    try:
        populate(emu)
        env = kiji_env(emu, posts, db, KIJI_INGEST_IDLE_SECONDS=str(ingest_idle_s))
        kiji = await KijiProcess.start("run", env=env, cwd=WORK)
        # The pool goes between one and two of its idle periods after its last use (the child looks
        # once a period); a used ingest process is renewed after its own.
        wait_s = 2 * POOL_IDLE_S + ingest_idle_s + 30
        try:
            await kiji.wait_for_line(f"{POSTS} unchanged", timeout_s=600)
            await emu.wait_until_ready(timeout_s=60)
            pid = kiji.process.pid
            result["after_start"] = snapshot(pid)  # its ingest found nothing new: the process is not renewed

            async def idle() -> dict[str, Any]:
                used = ingest_process(pid) if ingest_idle_s else None
                snap = await settled(pid, wait_s, renewed_from=used)
                snap["renewed"] = used is not None and ingest_process(pid) not in (None, used)
                return snap

            await timed_ingest(kiji, posts, 0, 20)
            result["idle"] = await idle()
            result["cold_ingest_s"], result["warm_ingest_s"] = [], []
            for round_ in range(rounds):  # one ingest takes ~1.5 s: a single pair is within the machine's noise
                if round_:
                    result["idle_again"] = await idle()
                # counts of their own: the bot's "N added" line of an earlier round must not end a wait
                cold, warm, start = 300 + 2 * round_, 301 + 2 * round_, 20 + 700 * round_
                result["cold_ingest_s"].append(await timed_ingest(kiji, posts, start, cold) / cold)
                result["warm_ingest_s"].append(await timed_ingest(kiji, posts, start + cold, warm) / warm)
            result["idle_again"] = await idle()
        finally:
            await kiji.stop()
    finally:
        await emu.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--ingest-idle-seconds",
        type=float,
        default=30.0,
        help="KIJI_INGEST_IDLE_SECONDS for the bot (Kiji's default 30; 0: its ingest process stays)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="idle spell, then cold and warm ingests, so many times")
    args = parser.parse_args(argv)
    if not Path("/proc/self/smaps_rollup").exists():
        print("bench.idle_memory needs Linux's /proc/PID/smaps_rollup", file=sys.stderr)
        return 2
    result = asyncio.run(run(*prepare(), args.ingest_idle_seconds, args.rounds))
    for leftover in (WORK / "posts").glob("2027-01-01-new*"):
        leftover.unlink()
    idle, start = result["idle"], result["after_start"]

    def processes(snap: dict[str, Any]) -> str:
        listed = ", ".join(f"{p['name']} {p['pss_mb']:.0f}" for p in snap["processes"])
        return listed + (" (renewed)" if snap.get("renewed") else "")

    ratios = [cold / warm for cold, warm in zip(result["cold_ingest_s"], result["warm_ingest_s"], strict=True)]
    ratio = statistics.median(ratios)
    rows = [
        Row("posts served", f"{POSTS:,}"),
        Row("PSS after the start-up ingest (ingest process there)", f"{start['total_mb']:.1f} MB", processes(start)),
        Row(
            f"PSS idle after an ingest (KIJI_INGEST_IDLE_SECONDS={args.ingest_idle_seconds:g})",
            f"{idle['total_mb']:.1f} MB",
            processes(idle),
            target=f"≤ {TARGET_MB:.0f} MB",
            result="pass" if idle["total_mb"] <= TARGET_MB else "FAIL",
        ),
        Row(
            "PSS idle again after two more ingests",
            f"{result['idle_again']['total_mb']:.1f} MB",
            processes(result["idle_again"]),
            target=f"≤ {TARGET_MB:.0f} MB",
            result="pass" if result["idle_again"]["total_mb"] <= TARGET_MB else "FAIL",
        ),
        Row(
            f"per post: ~300 new posts after the idle spell / ~300 right after (warm), median of {args.rounds}",
            f"{statistics.median(result['cold_ingest_s']) * 1000:.2f} ms",
            f"{statistics.median(result['warm_ingest_s']) * 1000:.2f} ms",
            ratio=f"{ratio:.2f}× (each: {', '.join(f'{r:.2f}' for r in ratios)})",
        ),
    ]
    emit("Idle memory of kiji run", rows, result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
