"""Log levels for the `kiji` command line: `-q` warnings only, default what Kiji does, `-v` everything.

By default Kiji's own modules log at INFO (one line per thing it did, see
bot/discord/run_log.py) and libraries only their warnings: discord.py's INFO lines are
about its own plumbing. Two of discord.py's warnings are about voice, which Kiji never
uses, and are dropped; its reconnect error is cut to one line unless `-v` asks for the
traceback.
"""

from __future__ import annotations

import logging

QUIET, NORMAL, VERBOSE = -1, 0, 1
OUR_LOGGERS = ("bot", "cogs")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _NoVoiceWarnings(logging.Filter):
    """discord.py warns that PyNaCl and davey are missing; Kiji has no voice, so they mean nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "voice will NOT be supported" not in record.getMessage()


class _OneLineReconnect(logging.Filter):
    """discord.py logs each failed reconnect with a full traceback; one line says the same to a user."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Attempting a reconnect in %.2fs" and record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = "lost the connection to Discord (%s: %s); reconnecting in %.2fs"
            record.args = (type(error).__name__, error, *(record.args or ()))  # type: ignore[misc]
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _add_once(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(existing, kind) for existing in logger.filters):
        logger.addFilter(kind())


def _remove(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    for existing in [f for f in logger.filters if isinstance(f, kind)]:
        logger.removeFilter(existing)


def configure_logging(verbosity: int) -> None:
    """Set the levels for `verbosity` (QUIET, NORMAL or VERBOSE); log to stderr unless a handler exists."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity >= VERBOSE else logging.WARNING)
    ours = {QUIET: logging.WARNING, NORMAL: logging.INFO}.get(verbosity, logging.DEBUG)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(ours)
    discord_client = logging.getLogger("discord.client")
    _add_once(discord_client, _NoVoiceWarnings)
    if verbosity >= VERBOSE:
        _remove(discord_client, _OneLineReconnect)
    else:
        _add_once(discord_client, _OneLineReconnect)
