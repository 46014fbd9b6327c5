"""Shared fixtures: where the read-only `../shared/` material lives, skipping cleanly without it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.store import KijiStore, open_store

pytest_plugins = ["bot.emulator.pytest_plugin", "git_server", "web_server", "postgres_server"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"


def _shared_path(*parts: str) -> Path:
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: this checkout has no ../shared/ beside it (CI and the dev machine do)")
    return path


@pytest.fixture(scope="session")
def corpus_site() -> Path:
    """The real blog's sample: a Jekyll site with `_config.yml`, `_posts/` and `jekyll-posts.json`."""
    return _shared_path("corpus-sample")


@pytest.fixture(scope="session")
def edge_site() -> Path:
    """A Jekyll site of tricky cases, with Jekyll 4.3.1's own reading in `jekyll-posts.json`."""
    return _shared_path("jekyll-edge-site")


@pytest.fixture(scope="session")
def openapi_spec_path() -> Path:
    """Discord's official OpenAPI spec, used to validate every request body the bot sends."""
    return _shared_path("discord-api", "openapi.json")


@pytest_asyncio.fixture
async def store(tmp_path: Path, store_backend: str, request: pytest.FixtureRequest) -> AsyncIterator[KijiStore]:
    """An empty store of the test's own: a real SQLite file, or a real PostgreSQL database when the module
    sets `store_backend` (see tests/postgres_server.py); a module may shadow it with a filled one."""
    from postgres_server import store_location  # a plugin (pytest_plugins): imported once pytest has loaded it

    async with store_location(request, store_backend, tmp_path) as location:
        opened = await open_store(location)
        yield opened
        await opened.close()
