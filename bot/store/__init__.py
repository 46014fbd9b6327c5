"""The store: every SQL statement Kiji runs lives in this package.

- `interface`: `KijiStore` and its per-aggregate protocols, what the rest of Kiji names.
- `factory`: `open_store(url)` / `store_for(url)`, a SQLite file or a PostgreSQL database (`location`).
- The SQLite backend: `database` (`Store`, the async facade), `connections` (one writer connection
  and a pool of read-only ones), `schema` (its numbered migrations), and one module per aggregate:
  `posts` (with `post_rows`), `search_index`, `summary_cache`, `subscriptions` (subscriptions and
  the delivery ledger), `sources`, `meta`.
- `postgres`: the PostgreSQL backend on asyncpg, one module per aggregate with the same functions.
"""

from bot.store.database import CACHE_SECONDS, RANKED_SEARCH_MAX, TITLE_NEEDLE_MAX, Store, StoreError, delivery_nonce
from bot.store.factory import open_store, store_for
from bot.store.interface import KijiStore
from bot.store.location import StoreLocation, parse_location, redact

__all__ = [
    "CACHE_SECONDS", "RANKED_SEARCH_MAX", "TITLE_NEEDLE_MAX", "KijiStore", "Store", "StoreError", "StoreLocation",
    "delivery_nonce", "open_store", "parse_location", "redact", "store_for",
]  # fmt: skip
