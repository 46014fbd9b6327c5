"""`kiji demo`: Kiji on the configured posts against the in-package Discord emulator, in a browser page.

:mod:`.session` runs the bot and says what a user did; :mod:`.web` serves the page (``static/``);
:mod:`.runner` is the command: start both, print the URL, open the browser, stop cleanly on Ctrl-C.
"""
