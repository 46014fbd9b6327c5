"""Push → announcement latency: a post pushed to the blog's repository, until the bot announces it in a channel.

What is measured. Everything real, as `tests/bot/sources/test_git_bot.py` runs it (and with its set-up,
`tests/git_bot_world.py`): a `git daemon` on 127.0.0.1 serving a bare repository of the first posts of
the corpus sample (`tests/git_server.py`), the real bot (`KijiBot`, every cog) cloning it with its git
source, under the loopback Discord emulator of `bot/emulator` with one subscribed channel. The bench
plays the blog's writing pipeline: it commits a new post and pushes it (`git push`, in a thread so the
bot's loop keeps running). Latency = from the moment `git push` has returned (the server has the
commit) to the moment the emulator receives the request that posts the announcement (its `arrived_at`
stamp, loop time, taken before the body is read). The bench waits on the emulator's own state changes
(`wait_for`), never on a sleep (before a push of the third mode, it reads the ingest process's state
until it is gone: outside any timed span).

Two modes, each in a bot of its own, in one run:

* polling only, `KIJI_POLL_SECONDS` = 5 s, no webhook. Each timed push goes right after the previous
  announcement, that is just after a poll round ended: the worst phase, so every push waits out close to
  the whole interval. Target: ≤ poll interval + 2 s.
* the push webhook (`KIJI_WEBHOOK_SECRET`, `KIJI_WEBHOOK_PORT`=0 for a free port) with the poll interval
  at 3,600 s, so only the webhook can explain an announcement: right after each push the bench sends a
  GitHub push event signed with the secret (`X-Hub-Signature-256`), as GitHub does. Target: ≤ 2 s.
* the webhook again, each push after a quiet spell: the bot has renewed its ingest process (it does after
  KIJI_INGEST_IDLE_SECONDS without an ingest, when it is set; the bench sets that period to 1 s and
  checks a fresh process has taken the used one's place before it pushes), so the push meets a process
  that has not opened the store yet and forks its parse pool again. Target: ≤ 2 s, as for a push to a
  busy bot.

One untimed push first in each mode (the first fetch after the clone, the first announcement's code paths).
Reference rows, not baselines of a ratio (the targets are absolute): how long the push itself took (the
writer's side), and for polling the latency minus the interval (the interval starts when the previous
round ends, just before the push, so this is the bot's fetch + ingest + delivery less the push's time).

`tests/` and the repo root are put on sys.path below because the harness, the git servers and the
shared set-up are test code imported as top-level modules (as pytest's rootdir conftest does).

Run: `.venv/bin/python -m bench.push_latency [--json PATH] [--pushes 5] [--poll-seconds 5]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _p in (str(_ROOT), str(_ROOT / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import asyncio  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import aiohttp  # noqa: E402
from bot_harness import populate, running_bot  # noqa: E402
from git_bot_world import WEBHOOK_SECRET, GitWorld, git_bot_settings, post_webhook, signed_github_push  # noqa: E402
from git_server import BlogRemotes, GitDaemon  # noqa: E402

from bench._common import CORPUS, Row, base_parser, emit, ms, secs, verdict  # noqa: E402
from bot.emulator import DiscordEmulator  # noqa: E402
from bot.services.ingest_process import IngestProcess  # noqa: E402
from bot.services.webhooks import WebhookConfig  # noqa: E402

SPEC = _ROOT.parent / "shared" / "discord-api" / "openapi.json"
WEBHOOK_POLL_SECONDS = 3600.0
TARGET_OVER_POLL_S = 2.0
TARGET_WEBHOOK_S = 2.0
POSTS_IN_REPOSITORY = 4


@dataclass
class ModeResult:
    latencies: list[float] = field(default_factory=list)
    push_seconds: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


async def measure(
    work: Path,
    daemon: GitDaemon,
    remotes: BlogRemotes,
    pushes: int,
    poll_seconds: float,
    webhook: bool,
    idle_s: float | None = None,
) -> ModeResult:
    """One bot following one new repository; `pushes` timed pushes after an untimed one.

    `idle_s`: the bot renews its used ingest process after so long without an ingest, and each push waits
    until it has.
    """
    remote = remotes.blog(posts=POSTS_IN_REPOSITORY)
    clone_url = daemon.url(remote)
    emu = DiscordEmulator(spec_path=SPEC if SPEC.exists() else None)
    await emu.start()
    result = ModeResult()
    try:
        _guild, channel, admin, _member = populate(emu)
        settings = git_bot_settings(emu, clone_url, work / remote.name, poll_seconds=poll_seconds)
        config = None
        if webhook:
            config = WebhookConfig.from_environ({"KIJI_WEBHOOK_SECRET": WEBHOOK_SECRET, "KIJI_WEBHOOK_PORT": "0"})
        async with running_bot(emu, settings, webhook=config) as bot, aiohttp.ClientSession() as session:
            world = GitWorld(emu, bot, remote, channel, admin)
            await world.subscribe()
            loop = asyncio.get_running_loop()
            if idle_s is not None:
                bot.sync.ingester.idle_s = idle_s
            for number in range(1, pushes + 2):  # the first push is the untimed warm-up
                if idle_s is not None:
                    await renewed(bot.sync.ingester, idle_s + 30)
                before = len(world.titles())
                started = loop.time()
                title = await asyncio.to_thread(world.push_post, number)
                pushed_at = loop.time()
                if webhook:
                    assert bot.sync.webhook is not None
                    body, headers = signed_github_push(clone_url)
                    status = await post_webhook(session, bot.sync.webhook.port, body, headers)
                    if status != 202:
                        raise SystemExit(f"the bot's webhook answered {status} to a signed push, not 202")
                await emu.wait_for(
                    lambda before=before: len(world.titles()) > before,
                    poll_seconds + 60 if not webhook else 60,
                    f"the announcement of {title!r}",
                )
                if world.titles()[before:] != [title]:
                    raise SystemExit(f"expected one announcement of {title!r}, got {world.titles()[before:]}")
                if number > 1:
                    result.latencies.append(world.announced_at(title) - pushed_at)
                    result.push_seconds.append(pushed_at - started)
    finally:
        await emu.stop()
    result.violations = [str(v) for v in emu.violations]
    return result


async def renewed(ingester: IngestProcess, timeout_s: float) -> None:
    """Return once the bot has renewed its used ingest process (polling its state: no event says so)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not ingester.fresh:
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(f"the ingest process was not renewed {timeout_s:g} s after the last ingest")
        await asyncio.sleep(0.05)


async def run(pushes: int, poll_seconds: float) -> tuple[ModeResult, ModeResult, ModeResult]:
    work = Path(tempfile.mkdtemp(prefix="kiji-push-latency-"))
    daemon = GitDaemon(work / "served")
    (work / "served").mkdir()
    daemon.start()
    try:
        remotes = BlogRemotes(work / "served", work / "writer", CORPUS)
        polling = await measure(work, daemon, remotes, pushes, poll_seconds, webhook=False)
        hooked = await measure(work, daemon, remotes, pushes, WEBHOOK_POLL_SECONDS, webhook=True)
        after_idle = await measure(work, daemon, remotes, pushes, WEBHOOK_POLL_SECONDS, webhook=True, idle_s=1.0)
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    return polling, hooked, after_idle


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--pushes", type=int, default=5, help="timed pushes per mode (after one untimed)")
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="KIJI_POLL_SECONDS of the polling mode")
    args = parser.parse_args(argv)
    if not (CORPUS / "_posts").is_dir():
        raise SystemExit(f"{CORPUS} is absent: the bench builds its repository from the corpus sample")
    if shutil.which("git") is None:
        raise SystemExit("git is not installed")

    print(f"{args.pushes} pushes polled every {args.poll_seconds:g} s, then {args.pushes} with the webhook, twice …")
    polling, hooked, after_idle = asyncio.run(run(args.pushes, args.poll_seconds))
    poll_target = args.poll_seconds + TARGET_OVER_POLL_S
    poll_max, hook_max, idle_max = max(polling.latencies), max(hooked.latencies), max(after_idle.latencies)
    rows = [
        Row(
            f"polling every {args.poll_seconds:g} s: median (n={len(polling.latencies)})",
            secs(statistics.median(polling.latencies)),
        ),
        Row(
            "polling: max",
            secs(poll_max),
            target=f"≤ poll + {TARGET_OVER_POLL_S:g} s = {poll_target:g} s",
            result=verdict(poll_max <= poll_target),
        ),
        Row("polling: max minus the poll interval", secs(poll_max - args.poll_seconds)),
        Row(
            f"webhook (poll every {WEBHOOK_POLL_SECONDS:g} s): median (n={len(hooked.latencies)})",
            ms(statistics.median(hooked.latencies)),
        ),
        Row(
            "webhook: max",
            ms(hook_max),
            target=f"≤ {TARGET_WEBHOOK_S:g} s",
            result=verdict(hook_max <= TARGET_WEBHOOK_S),
        ),
        Row(
            f"webhook after the ingest process was renewed: median (n={len(after_idle.latencies)})",
            ms(statistics.median(after_idle.latencies)),
        ),
        Row(
            "webhook after the ingest process was renewed: max",
            ms(idle_max),
            target=f"≤ {TARGET_WEBHOOK_S:g} s",
            result=verdict(idle_max <= TARGET_WEBHOOK_S),
        ),
        Row(
            "reference: the push itself (commit + git push), median",
            ms(statistics.median(polling.push_seconds + hooked.push_seconds)),
        ),
        Row("emulator validation", "OpenAPI spec on" if SPEC.exists() else "off (spec absent)"),
        Row(
            "emulator violations (polling / webhook / after idle)",
            f"{len(polling.violations)} / {len(hooked.violations)} / {len(after_idle.violations)}",
        ),
    ]
    raw = {
        "poll_seconds": args.poll_seconds,
        "polling_latency_seconds": polling.latencies,
        "webhook_latency_seconds": hooked.latencies,
        "webhook_after_idle_latency_seconds": after_idle.latencies,
        "push_seconds": polling.push_seconds + hooked.push_seconds,
        "violations": polling.violations + hooked.violations + after_idle.violations,
    }
    emit("Push → announcement latency (git daemon, real bot, loopback Discord)", rows, raw, args.json)
    for violation in (polling.violations + hooked.violations + after_idle.violations)[:20]:
        print("violation:", violation)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
