"""Kiji core: Discord-free logic (Jekyll reading, cleaning, store, ingest) plus the bot wiring."""

__version__ = "0.1.0"
