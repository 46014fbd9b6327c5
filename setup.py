"""The compiled modules (the search tokeniser, the near-duplicate remover), optional: without a C
compiler or Python's headers Kiji runs the same code in Python, slower. `make` builds them in place."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("bot.content._search_tokens_c", ["bot/content/_search_tokens_c.c"], optional=True),
        Extension("bot.content._near_duplicates_c", ["bot/content/_near_duplicates_c.c"], optional=True),
    ]
)
