"""The SQLite store: every SQL statement Kiji runs lives in this package."""

from bot.store.database import CACHE_SECONDS, RANKED_SEARCH_MAX, TITLE_NEEDLE_MAX, Store, StoreError, delivery_nonce

__all__ = ["CACHE_SECONDS", "RANKED_SEARCH_MAX", "TITLE_NEEDLE_MAX", "Store", "StoreError", "delivery_nonce"]
