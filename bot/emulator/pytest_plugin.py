"""Pytest plugin: the ``discord_emulator`` fixture (loaded via ``pytest_plugins`` in tests/conftest.py).

It needs the ``openapi_spec_path`` fixture from the project's tests/conftest.py: tests validate every request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from .server import DiscordEmulator


@pytest_asyncio.fixture
async def discord_emulator(openapi_spec_path: Path) -> AsyncIterator[DiscordEmulator]:
    """A started emulator validating against the OpenAPI spec; fails the test at teardown on any violation.

    Stop your bot (``await client.close()``) inside the test, before teardown.
    """
    emulator = DiscordEmulator(spec_path=openapi_spec_path)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
    emulator.assert_no_violations()
