"""`kiji --help` start-up, as a ratio against a bare `python -c pass` measured in the same run.

What a newcomer feels first is how long `kiji` takes to answer at all. The command imports what
each subcommand needs only when it runs (`bot.cli`), so `--help` should cost little more than the
interpreter's own start-up. Both commands run as whole processes, in turn (A B A B …), so a machine
that slows down during the run slows both; the ratio is taken pair by pair and its median reported.

Also reported: the Kiji modules `python -X importtime -m bot.cli --help` loads and their summed
self time (noisy on a busy machine). Nothing is judged: the ratio is the figure to compare between
versions (before the lazy imports of issue 21, `kiji --help` loaded 63 Kiji modules), and the same start-up ratio for
`kiji ingest --help`, which must not load the store or the post parser either.

Run: `.venv/bin/python -m bench.cli_startup [--json PATH] [--runs 30]`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench._common import ROOT, Row, base_parser, emit, ms


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def paired(command: list[str], baseline: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds of `command` and `baseline`, run in turn after one warm-up of each."""
    _wall(command), _wall(baseline)
    measured: list[float] = []
    base: list[float] = []
    for _ in range(runs):
        measured.append(_wall(command))
        base.append(_wall(baseline))
    return measured, base


def kiji_modules(args: list[str]) -> tuple[list[str], float]:
    """The `bot.*` modules `kiji ARGS` imports and their summed self time in seconds (-X importtime)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot.cli", *args],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    modules: list[str] = []
    total_us = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, self_us, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if name == "bot" or name.startswith("bot."):
            modules.append(name)
            total_us += int(self_us)
    return modules, total_us / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30, help="pairs of runs per command (default 30)")
    args = parser.parse_args(argv)
    bare = [sys.executable, "-c", "pass"]
    rows: list[Row] = []
    raw: dict[str, object] = {}
    for label, kiji_args in (("kiji --help", ["--help"]), ("kiji ingest --help", ["ingest", "--help"])):
        measured, base = paired([sys.executable, "-m", "bot.cli", *kiji_args], bare, args.runs)
        ratios = [a / b for a, b in zip(measured, base, strict=True)]
        ratio = statistics.median(ratios)
        modules, self_s = kiji_modules(kiji_args)
        rows.append(
            Row(
                f"{label}: whole process (median)",
                ms(statistics.median(measured)),
                baseline=f"python -c pass {ms(statistics.median(base))}",
                ratio=f"{ratio:.2f}×",
            )
        )
        rows.append(Row(f"{label}: Kiji modules imported (self time)", f"{len(modules)} ({ms(self_s)})"))
        raw[label] = {"seconds": measured, "baseline_seconds": base, "ratios": ratios, "modules": modules}
    emit("kiji start-up", rows, raw, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
