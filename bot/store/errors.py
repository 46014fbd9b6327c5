"""The one error the store raises: its message says what is wrong and how to fix it."""


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to fix."""
