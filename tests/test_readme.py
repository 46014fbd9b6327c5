"""The README stays a newcomer's page, and every test or benchmark it names exists.

A README that maps guarantees to tests is only as good as those names: a renamed test leaves a
row that proves nothing. Counts of tests went stale the same way, so the README states none.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BENCH_README = REPO / "bench" / "README.md"

# What a newcomer reads first, in this order (issue 21, point 18); the rest may follow as it likes.
NEWCOMER_SECTIONS = (
    "Two commands",
    "Try it without Discord",
    "From nothing to `/summary` on your server",
    "Sources",
    "Commands",
)
# `tests/x/y.py`, `y.py::test_name` or `::test_name` after a file named earlier in the same cell.
TEST_REF = re.compile(r"`(?P<file>(?:tests/)?[\w/]*test_\w+\.py)?(?:::(?P<name>\w+))?`")


def _sections(text: str) -> list[str]:
    return [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]


def _test_files() -> dict[str, list[Path]]:
    by_name: dict[str, list[Path]] = {}
    for path in (REPO / "tests").rglob("test_*.py"):
        by_name.setdefault(path.name, []).append(path)
    return by_name


def _defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def _resolve(file: str, by_name: dict[str, list[Path]]) -> list[Path]:
    if "/" in file:
        return [REPO / file]
    return by_name.get(file, [])


def test_the_readme_opens_with_what_a_newcomer_needs_in_order():
    sections = _sections(README.read_text(encoding="utf-8"))
    assert tuple(sections[: len(NEWCOMER_SECTIONS)]) == NEWCOMER_SECTIONS


def test_the_readme_states_no_test_counts():
    text = README.read_text(encoding="utf-8")
    counts = re.findall(r"\b\d[\d,]* (?:of \d[\d,]* )?tests?\b(?! of)", text)
    assert counts == [], f"test counts go stale; state none: {counts}"


def test_every_test_the_readme_names_exists():
    by_name = _test_files()
    missing = []
    for line in README.read_text(encoding="utf-8").splitlines():
        current: list[Path] = []
        for match in TEST_REF.finditer(line):
            file, name = match.group("file"), match.group("name")
            if file:
                current = _resolve(file, by_name)
                if not current or not all(p.is_file() for p in current):
                    missing.append(file)
                    continue
            if name and current and not any(name in _defined_names(p) for p in current):
                missing.append(f"{file or '…'}::{name}")
    assert missing == []


def test_every_benchmark_the_bench_readme_runs_exists():
    modules = set(re.findall(r"python -m bench\.(\w+)", BENCH_README.read_text(encoding="utf-8")))
    assert modules, "bench/README.md names the command behind each figure"
    missing = sorted(m for m in modules if not (REPO / "bench" / f"{m}.py").is_file())
    assert missing == []
