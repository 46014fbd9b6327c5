"""A loopback emulation of Discord's REST API (v10) and gateway: the bot's end-to-end tests and `kiji demo`.

One implementation serves both. Its parts: :mod:`.world` (guilds, channels, messages: plain state),
:mod:`.rest` with :mod:`.routes` and :mod:`.interaction_routes` (the REST API), :mod:`.gateway` (the
websocket), :mod:`.interactions` (what a user does: slash commands, autocomplete, clicks) and
:mod:`.validation` (Discord's OpenAPI spec, when the spec file is there and jsonschema is installed).
:mod:`.server` wires them together.

Start it (or use the ``discord_emulator`` pytest fixture from :mod:`bot.emulator.pytest_plugin`, which also
fails the test at teardown if the bot broke any rule)::

    emu = DiscordEmulator(spec_path=openapi_spec_path)   # 127.0.0.1, random free port
    await emu.start()
    guild = emu.add_guild("Blog")                         # @everyone, an owner, the bot as member
    channel = emu.add_channel(guild, "general")           # type=0 text, 5 announcement, 15 forum
    admin = emu.add_member(guild, name="admin", permissions=MANAGE_GUILD)
    reader = emu.add_member(guild, name="reader")

Point discord.py at it (all requests then go to 127.0.0.1 only)::

    discord.http.Route.BASE = emu.api_base                               # "http://127.0.0.1:PORT/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    await client.start(emu.token)   # (in a task) login: GET /users/@me, /oauth2/applications/@me

A non-sharded ``discord.Client`` connects straight to ``DiscordWebSocket.DEFAULT_GATEWAY`` (class attribute,
read in ``DiscordWebSocket.from_client``); the bot can instead fetch ``GET /gateway/bot`` from ``Route.BASE``
and set that attribute from the returned ``url``. After READY discord.py resumes on ``resume_gateway_url``
(``ws://127.0.0.1:PORT/resume-gateway``). Restore both attributes after the test. Pass
``guild_ready_timeout=0.05`` to the client: discord.py otherwise idles 2 s after the last GUILD_CREATE before
``on_ready``. Close the bot (``await client.close()``) before the emulator stops. The gateway speaks JSON
with ``compress=zlib-stream`` (discord.py's default without zstandard), ``zstd-stream`` if the ``zstandard``
module is installed, or uncompressed.

Drive it::

    await emu.wait_until_ready()                     # IDENTIFY done, READY + GUILD_CREATE(s) sent
    h = await emu.slash_command("article", {"query": "rust"}, user=reader, locale="ja")
    body = await h.response()                        # {"type": 4, "data": {...}} as POSTed by the bot
    msg = await h.message()                          # final original response (after a deferred edit too)
    ups = await h.followups(1)
    ac = await emu.autocomplete("article", focused_option="query", options={"query": "ru"})
    choices = await ac.choices()
    click = await emu.click_button(msg, "next", user=reader)
    await emu.drop_connection(); await emu.wait_until_resumed()   # events sent meanwhile are replayed

Every wait takes ``timeout_s`` and waits on state changes (an ``asyncio.Condition``), never by polling; a
timeout names what was awaited and lists the violations so far. Defaults: the guild/channel/user of an
injection are the only guild, its first text channel and its first non-owner human member.
With the GUILD_MESSAGES intent the bot also gets MESSAGE_CREATE for its channel posts, and THREAD_CREATE for
threads it opens, like on Discord.

Kiji in any chat (user installs): ``emu.add_guild(..., with_bot=False)`` is a server that never added the bot
(no GUILD_CREATE, the bot's REST calls there get 403); ``emu.add_user(name)``, ``emu.add_dm(user)`` (a DM with
the bot), ``emu.add_dm(user, other)`` and ``emu.add_group_dm([users])`` (where no bot is);
``emu.install_for_user(user)`` adds the app to a user's account. An injection in such a place carries Discord's
``context`` (0 guild, 1 bot DM, 2 private channel), ``authorizing_integration_owners`` (``"0"`` guild install,
``"1"`` user install, narrowed to the command's ``integration_types``), ``user`` instead of ``member`` in DMs and
the ``app_permissions`` of a user-installed app; a command whose ``contexts``/``integration_types`` exclude the
place raises :class:`CommandNotOffered`, as Discord's client would not show it. Replies there are forced
ephemeral where Discord forces them (no Use External Apps in a server without the bot), and more than 5
follow-ups from a user install are refused.

Read what the bot sent: ``emu.sent_messages[channel_id]`` (channel posts and forum/thread starter messages),
``emu.messages_by_id``, ``emu.interactions[id]`` (:class:`InteractionRecord`), ``emu.global_commands`` /
``emu.guild_commands[guild_id]``, ``emu.requests`` (every REST request with its JSON body, status, arrival
time and the problems validation found), ``emu.violations``. Each of these forwards to the part that owns it
(``emu.world``, ``emu.rest``, ``emu.gateway``, ``emu.driver``, ``emu.monitor``).

Inject failures: ``emu.fail_next("POST", r"^/channels/\\d+/messages$", 429, retry_after=0.2, is_global=False)``
(also 401/403/404/500/503, ``count=``), ``emu.refuse_identify_with = 4014`` (close the gateway at
IDENTIFY), ``emu.global_rate_limit = 50`` (requests/s, 429 + ``X-RateLimit-Global``
beyond it; counted in ``emu.rate_limited_count``). ``nonce`` + ``enforce_nonce`` deduplicate channel posts for
5 minutes (``emu.nonce_duplicates``).

Validation (each failure is a :class:`Violation`): JSON bodies (and multipart ``payload_json``) against the
OpenAPI spec, message/embed/autocomplete limits not in the spec, unknown routes, bad ``Authorization``, the
3-second initial-response deadline (404/10062), double acknowledgement (400/40060), webhook use before
acknowledgement, gateway protocol errors. Realistic refusals (missing permissions, unknown channel) are
answered like Discord but are not violations.
"""

from .interactions import CommandNotOffered, InteractionDriver, InteractionHandle
from .records import (
    ADMINISTRATOR,
    ANNOUNCEMENT,
    DEFAULT_TOKEN,
    FORUM,
    MANAGE_GUILD,
    SEND_MESSAGES,
    TEXT,
    USE_EXTERNAL_APPS,
    VIEW_CHANNEL,
    InteractionRecord,
    RecordedRequest,
    Violation,
)
from .server import DiscordEmulator
from .validation import (
    SpecUnavailable,
    SpecValidator,
    check_autocomplete_choices,
    check_message_limits,
    load_spec_validator,
)
from .world import World

__all__ = [
    "ADMINISTRATOR",
    "ANNOUNCEMENT",
    "DEFAULT_TOKEN",
    "FORUM",
    "MANAGE_GUILD",
    "SEND_MESSAGES",
    "TEXT",
    "USE_EXTERNAL_APPS",
    "VIEW_CHANNEL",
    "CommandNotOffered",
    "DiscordEmulator",
    "InteractionDriver",
    "InteractionHandle",
    "InteractionRecord",
    "RecordedRequest",
    "SpecUnavailable",
    "SpecValidator",
    "Violation",
    "World",
    "check_autocomplete_choices",
    "check_message_limits",
    "load_spec_validator",
]
