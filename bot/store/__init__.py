"""The SQLite store: every SQL statement Kiji runs lives in this package.

- `database`: `Store`, the async facade everything else talks to.
- `connections`: one writer connection and a pool of read-only ones (reads never wait for a write).
- `schema`: the numbered migrations and the routine that applies them.
- one module per aggregate: `posts` (with `post_rows`), `search_index`, `summary_cache`,
  `subscriptions` (subscriptions and the delivery ledger), `meta`.
"""

from bot.store.database import CACHE_SECONDS, RANKED_SEARCH_MAX, TITLE_NEEDLE_MAX, Store, StoreError, delivery_nonce

__all__ = ["CACHE_SECONDS", "RANKED_SEARCH_MAX", "TITLE_NEEDLE_MAX", "Store", "StoreError", "delivery_nonce"]
