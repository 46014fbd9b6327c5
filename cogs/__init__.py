"""Slash-command cogs: thin layers over the store API, loaded by the bot's setup_hook."""
