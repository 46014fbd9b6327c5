"""Shared helpers for the benchmarks: timing, percentiles, peak RSS, table and JSON output."""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path("/work/shared/corpus-sample")


@dataclass
class Row:
    """One line of a benchmark table."""

    measure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    result: str = ""  # "pass", "FAIL" or "" (for reference only)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.3f} s"


def markdown_table(rows: list[Row]) -> str:
    header = ["Measure", "Value", "Baseline", "Ratio", "Target", "Result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in rows:
        cells = [row.measure, row.value, row.baseline, row.ratio, row.target, row.result]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, object]:
    import os
    import sqlite3

    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the results as JSON to PATH")
    return parser


def emit(title: str, rows: list[Row], raw: dict[str, object], json_path: Path | None) -> None:
    """Print the Markdown table, and write the JSON document if asked."""
    print(f"\n### {title}\n")
    print(markdown_table(rows))
    print()
    if json_path is not None:
        document = {"benchmark": title, "machine": machine(), "rows": [asdict(r) for r in rows], "raw": raw}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"(JSON written to {json_path})")
