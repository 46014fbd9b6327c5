"""The `__main__` of the processes Kiji starts (the ingest process, parse workers): nothing.

A process started clean imports its parent's `__main__` again before it runs anything; see
`bot.services.parse_pool.light_main`, which makes this empty module that `__main__`. It must
stay empty and must not be preloaded: the child runs it as `__mp_main__` on its own.
"""
