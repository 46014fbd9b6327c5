"""Every runtime dependency pyproject.toml declares is one the code imports.

A declared dependency nothing imports is installed on every machine for nothing, and tells
a reader the code does something (here, once, Markdown parsing) it does not.
"""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_distributions() -> set[str]:
    modules: set[str] = set()
    for path in [*REPO.joinpath("bot").rglob("*.py"), *REPO.joinpath("cogs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    by_module = packages_distributions()
    return {_canonical(dist) for module in modules for dist in by_module.get(module, [])}


def test_every_declared_runtime_dependency_is_imported() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = {_canonical(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in declared}
    assert names, "no dependencies read from pyproject.toml"
    unused = names - _imported_distributions()
    assert not unused, f"declared in pyproject.toml but imported nowhere in bot/ or cogs/: {sorted(unused)}"
