"""The one compiled module (the search tokeniser), optional: without a C compiler or Python's
headers Kiji runs the same tokeniser in Python, slower. `make` builds it in place."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("bot.content._search_tokens_c", ["bot/content/_search_tokens_c.c"], optional=True),
    ]
)
