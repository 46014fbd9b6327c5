"""The layers' arrows point down, and every module still fits in a head.

Sources and content know nothing of the store or Discord, the store knows nothing of Discord,
all SQL stays in the store, and cogs go through services: read from the imports themselves,
so a shortcut taken under time pressure fails here instead of in a reviewer's memory.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CODE = [*sorted(REPO.joinpath("bot").rglob("*.py")), *sorted(REPO.joinpath("cogs").rglob("*.py"))]
DISCORD_SIDE = ("discord", "cogs", "bot.discord", "bot.emulator", "bot.demo")
ABOVE_THE_STORE = ("bot.store", "bot.services", "bot.cli", "bot.settings", *DISCORD_SIDE)
SQL = ("sqlite3", "aiosqlite")
# "No module over ~500 lines" (issue 10): the approximate bound, written down as a number.
MAX_MODULE_LINES = 550


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved, at any depth of the file."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.add(".".join([*base, *([node.module] if node.module else [])]))
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _crossings(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{_module_name(path)} imports {imported}"
        for path in CODE
        if _within(_module_name(path), layers)
        for imported in _imports(path)
        if _within(imported, forbidden)
    )


def test_the_module_names_are_read_correctly() -> None:
    """The checks below see what they should: a known import of each kind is found."""
    assert "bot.content.textnorm" in _imports(REPO / "bot" / "content" / "snippets.py")
    assert "aiosqlite" in _imports(REPO / "bot" / "store" / "connections.py")
    assert "discord" in _imports(REPO / "cogs" / "posts.py")


@pytest.mark.parametrize(
    ("layers", "forbidden"),
    [
        pytest.param(("bot.sources", "bot.content"), (*ABOVE_THE_STORE, *SQL), id="sources-and-content"),
        pytest.param(("bot.models",), (*ABOVE_THE_STORE, *SQL), id="domain-types"),
        pytest.param(("bot.store",), ("bot.services", "bot.cli", *DISCORD_SIDE), id="store"),
        pytest.param(("cogs",), ("bot.store", *SQL), id="cogs"),
        pytest.param(("bot.content",), ("bot.sources",), id="content-below-the-sources-that-use-it"),
        pytest.param(("bot",), ("cogs",), id="the-core-below-the-cogs-it-loads-by-name"),
    ],
)
def test_imports_point_down(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    assert _crossings(layers, forbidden) == []


def test_sql_lives_only_in_the_store() -> None:
    outside = [
        f"{_module_name(path)} imports {imported}"
        for path in CODE
        if not _within(_module_name(path), ("bot.store",))
        for imported in _imports(path)
        if _within(imported, SQL)
    ]
    assert outside == []


def test_every_module_fits_in_a_head() -> None:
    lengths = {_module_name(path): len(path.read_text(encoding="utf-8").splitlines()) for path in CODE}
    assert {name: lines for name, lines in lengths.items() if lines > MAX_MODULE_LINES} == {}


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `path` imports, `from package import module` included, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return (found | _imports(path)) & known


def _circles(package: str) -> list[list[str]]:
    """Every loop of imports among the modules of `package` (type-checking imports count: they tie the files too)."""
    modules = {_module_name(path): path for path in CODE if _within(_module_name(path), (package,))}
    graph = {name: _imported_modules(path, set(modules)) - {name} for name, path in modules.items()}
    circles = []
    for start in sorted(graph):
        path, seen = [start], set()  # a depth-first walk from `start`, back to it
        stack = [iter(sorted(graph[start]))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                path.pop()
            elif following == start:
                circles.append([*path, start])
            elif following not in seen and following > start:  # each loop once, from its first module
                seen.add(following)
                path.append(following)
                stack.append(iter(sorted(graph[following])))
    return circles


def test_the_modules_that_speak_to_discord_import_each_other_one_way() -> None:
    """A module the bot's client imports takes from the bot only what it names in a Protocol of its own."""
    assert "bot.discord.blogs" in _imported_modules(REPO / "bot" / "discord" / "client.py", {"bot.discord.blogs"})
    assert _circles("bot.discord") == []
