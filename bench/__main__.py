"""Run every benchmark (`make bench`): `python -m bench [--json DIR]`.

Each benchmark runs in its own process so that one's peak RSS and warm caches do not
colour the other's numbers. With --json DIR, each writes DIR/<name>.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench._common import ROOT

BENCHMARKS = (
    "ingest_bench",
    "ingest_speed",
    "scale_bench",
    "interaction_latency",
    "latency_during_ingest",
    "pg_ingest",
    "pg_latency",
    "fanout",
    "announce_render",
    "post_images",
    "failover",
    "retention",
    "eval_summaries",
    "git_bench",
    "push_latency",
    "cli_startup",
    "idle_memory",
    "web_backfill",
    "web_idle_poll",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", metavar="DIR", type=Path, help="write DIR/<benchmark>.json for each benchmark")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only this benchmark (repeatable)")
    args = parser.parse_args(argv)
    status = 0
    for name in args.only or BENCHMARKS:
        command = [sys.executable, "-m", f"bench.{name}"]
        if args.json is not None:
            command += ["--json", str(args.json / f"{name}.json")]
        print(f"$ {' '.join(command)}", flush=True)
        status |= subprocess.run(command, cwd=ROOT, check=False).returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
