"""What polling an unchanged web blog costs: `python -m bench.web_idle_poll`.

The jekyll fixture site (tests/fixtures/web/jekyll) is served from 127.0.0.1 by the tests' server
in a process of its own (its CPU is not counted here). A web source reads it by its home page
once (feed, sitemap, pages); then `--polls` syncs of the unchanged blog follow, each what the
bot does at a poll (`sync_source`: the source's poll, then ingest of what changed, into a real
SQLite file). Reported: the requests each idle poll made (target ≤ 3, answered 304, no page asked
again) and its CPU (`time.process_time`, every thread of this process; target ≤ 20 ms), beside
the first read's CPU in the same run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import ROOT, Row, base_parser, emit, percentile, verdict

JEKYLL = ROOT / "tests" / "fixtures" / "web" / "jekyll"
TARGET_REQUESTS = 3
TARGET_CPU_S = 0.020
# The tests' server, in its own process; each line on stdin asks for the requests logged since the last.
SERVE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from web_server import WebServer
server = WebServer(); server.start(); server.serve_site(Path(sys.argv[2]))
print(server.port, flush=True)
seen = 0
for _ in sys.stdin:
    log = server.requests()
    print(json.dumps([[entry.path, entry.status] for entry in log[seen:]]), flush=True)
    seen = len(log)
"""


class Server:
    def __init__(self, site: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(ROOT / "tests"), str(site)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def requests_since_last(self) -> list[tuple[str, int]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return [(path, status) for path, status in json.loads(self.process.stdout.readline())]

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(30)


async def measure(workdir: Path, polls: int) -> tuple[list[Row], dict[str, object]]:
    from bot.services.blogs import sync_source
    from bot.sources.specs import WebSpec
    from bot.sources.web import WebSource
    from bot.store import Store

    server = Server(JEKYLL)
    store = await Store.open(workdir / "kiji.sqlite3")
    try:
        source = WebSource(WebSpec(server.base + "/"), workdir / "data", fetch_rate=1000.0)
        await store.register_source(source.name, source.display)
        started = time.process_time()
        first = await sync_source(store, source)
        first_cpu = time.process_time() - started
        if first.error:
            raise SystemExit(f"the first read failed: {first.error}")
        first_requests = server.requests_since_last()
        cpu: list[float] = []
        asked: list[list[tuple[str, int]]] = []
        for _ in range(polls):
            started = time.process_time()
            outcome = await sync_source(store, source)
            cpu.append(time.process_time() - started)
            if outcome.error:
                raise SystemExit(f"an idle poll failed: {outcome.error}")
            asked.append(server.requests_since_last())
        posts = len(await store.all_posts())
    finally:
        await store.close()
        server.stop()
    pages = {path for path, _ in first_requests if path not in {"/robots.txt", "/feed.xml", "/sitemap.xml"}}
    most = max(len(requests) for requests in asked)
    statuses = sorted({status for requests in asked for _, status in requests})
    refetched = sorted({path for requests in asked for path, _ in requests if path in pages})
    median = percentile(cpu, 50)
    rows = [
        Row("posts stored by the first read", str(posts)),
        Row("requests of the first read", str(len(first_requests))),
        Row(
            "requests per idle poll (most)",
            str(most),
            target=f"≤ {TARGET_REQUESTS}",
            result=verdict(most <= TARGET_REQUESTS),
        ),
        Row(
            "statuses answered to idle polls",
            ", ".join(map(str, statuses)),
            target="304",
            result=verdict(statuses == [304]),
        ),
        Row("post pages asked again", str(len(refetched)), target="0", result=verdict(not refetched)),
        Row(
            "CPU per idle poll (median)",
            f"{median * 1000:.1f} ms",
            baseline=f"{first_cpu * 1000:.0f} ms (the first read)",
            ratio=f"{median / first_cpu:.3f}",
            target=f"≤ {TARGET_CPU_S * 1000:g} ms",
            result=verdict(median <= TARGET_CPU_S),
        ),
        Row("CPU per idle poll (p90)", f"{percentile(cpu, 90) * 1000:.1f} ms"),
    ]
    raw = {
        "polls": polls,
        "first_cpu_s": first_cpu,
        "first_requests": first_requests,
        "idle_cpu_s": cpu,
        "idle_requests": asked,
    }
    return rows, raw


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--polls", type=int, default=50, help="idle polls to time (default 50)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kiji-web-idle-") as folder:
        rows, raw = asyncio.run(measure(Path(folder), args.polls))
    emit("An idle poll of a web blog (jekyll fixture, loopback)", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
