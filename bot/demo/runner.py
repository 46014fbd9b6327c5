"""The `kiji demo` command: the session and its page started together, stopped together on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
import webbrowser
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from aiohttp import web

from bot.demo.session import DEFAULT_SPEC, DemoSession
from bot.demo.web import demo_app
from bot.settings import Settings
from bot.sources.base import Source
from bot.sources.folder import FolderSource

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


def _open_browser(url: str) -> bool:
    """Open the page when this machine has a browser to open it in; say nothing otherwise."""
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return webbrowser.open(url)


def _new_session(settings: Settings, sources: list[Source], spec: str | None) -> DemoSession:
    return DemoSession(settings, sources, spec_path=Path(spec).expanduser() if spec else DEFAULT_SPEC)


def _without_address(settings: Settings, sources: list[Source]) -> bool:
    """One local folder whose posts have no blog address: its links would be relative."""
    if settings.site_url or len(sources) != 1 or not isinstance(sources[0], FolderSource):
        return False
    return not settings.load_site(sources[0].site_root).url


async def run_demo(
    settings: Settings,
    sources: list[Source],
    out: TextIO,
    *,
    port: int = 0,
    open_browser: bool = True,
    spec: str | None = None,
    keep_db: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the demo until ``stop`` is set (SIGINT/SIGTERM set it)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    with tempfile.TemporaryDirectory(prefix="kiji-demo-") as scratch:
        if not keep_db:
            settings = replace(settings, db_path=Path(scratch) / "demo.sqlite3")
        # Loading the spec parses a few megabytes of JSON: not on the event loop.
        session = await asyncio.to_thread(_new_session, settings, sources, spec)
        runner = web.AppRunner(demo_app(session), handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, HOST, port).start()
            url = f"http://{HOST}:{runner.addresses[0][1]}/"
            if await asyncio.to_thread(_without_address, settings, sources):
                # No blog address: the "Read" buttons open the demo's own copy of each post instead.
                session.settings = replace(session.settings, site_url=url + "site")
            shown = ", ".join(source.display for source in sources)
            out.write(f"Kiji demo: reading posts from {shown}; starting the bot…\n")
            out.flush()
            await session.start()
            try:
                out.write(f"{session.validation_note}\n")
                folders = [str(source.site_root) for source in sources if isinstance(source, FolderSource)]
                if folders:
                    where = " or ".join(folders)
                    out.write(f"Add a post to {where} and it is announced in #announcements.\n")
                out.write("Open this page (Ctrl-C stops the demo):\n")
                out.write(url + "\n")
                out.flush()
                if open_browser and not await asyncio.to_thread(_open_browser, url):
                    out.write("(no browser found here: open the URL above yourself)\n")
                    out.flush()
                await stop.wait()
            finally:
                await session.stop()
        finally:
            await runner.cleanup()
