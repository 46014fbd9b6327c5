"""The emulator as one object: the parts wired together, served by aiohttp on 127.0.0.1.

:class:`DiscordEmulator` owns the world, the REST API, the gateway and the interaction driver, and listens on
a free loopback port through aiohttp's public runner API. Its attributes forward to the part that owns them
(``emu.sent_messages`` is ``emu.world.sent_messages``) so a test reads one object; see the package docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from .gateway import Gateway
from .interaction_routes import InteractionRoutes
from .interactions import InteractionDriver
from .records import DEFAULT_TOKEN, INTERACTION_DEADLINE_S, Monitor, Violation
from .rest import RestApi
from .routes import DiscordRoutes
from .validation import API_PREFIX, SpecValidator, load_spec_validator
from .world import World

log = logging.getLogger(__name__)


class _Forward:
    """An attribute of the emulator that is really the attribute of the same name on one of its parts."""

    def __init__(self, part: str, name: str = "") -> None:
        self.part = part
        self.name = name

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.name or name

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.part), self.name)

    def __set__(self, obj: object, value: Any) -> None:
        setattr(getattr(obj, self.part), self.name, value)


class DiscordEmulator:
    """A loopback Discord (REST ``/api/v10`` + gateway) for one bot. See the package docstring."""

    def __init__(
        self,
        *,
        spec_path: str | Path | None = None,
        token: str = DEFAULT_TOKEN,
        bot_name: str = "Kiji",
        interaction_deadline: float = INTERACTION_DEADLINE_S,
        heartbeat_interval_ms: int = 41250,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.host = host
        self.validator: SpecValidator | None = load_spec_validator(spec_path) if spec_path else None
        self.monitor = Monitor()
        self.world = World(bot_name)
        self.gateway = Gateway(self.world, self.monitor, token, heartbeat_interval_ms)
        self.rest = RestApi(self.monitor, token, self.validator)
        self.routes = DiscordRoutes(self.world, self.gateway)
        self.routes.register(self.rest)
        self.interaction_routes = InteractionRoutes(self.world, interaction_deadline)
        self.interaction_routes.register(self.rest)
        self.driver = InteractionDriver(self.world, self.gateway, self.monitor)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # The world.
    application_id = _Forward("world")
    bot_user = _Forward("world")
    users = _Forward("world")
    guilds = _Forward("world")
    channels = _Forward("world")
    global_commands = _Forward("world")
    guild_commands = _Forward("world")
    command_syncs = _Forward("world")
    sent_messages = _Forward("world")
    messages_by_id = _Forward("world")
    interactions = _Forward("world")
    add_guild = _Forward("world")
    add_role = _Forward("world")
    add_member = _Forward("world")
    add_channel = _Forward("world")
    remove_channel = _Forward("world")
    set_overwrites = _Forward("world")
    permissions = _Forward("world")
    find_command = _Forward("world")
    add_user = _Forward("world")
    add_dm = _Forward("world")
    add_group_dm = _Forward("world")
    install_for_user = _Forward("world")
    user_installs = _Forward("world")
    # REST.
    requests = _Forward("rest")
    fail_next = _Forward("rest")
    global_rate_limit = _Forward("rest")
    rate_limited_count = _Forward("rest")
    nonce_duplicates = _Forward("routes")
    hold_next = _Forward("rest")
    webhooks = _Forward("world")
    add_webhook = _Forward("world")
    remove_webhook = _Forward("world")
    interaction_deadline = _Forward("interaction_routes", "deadline")
    # The gateway.
    identify_count = _Forward("gateway")
    resume_count = _Forward("gateway")
    ready_count = _Forward("gateway")
    heartbeats = _Forward("gateway")
    gateway_paths = _Forward("gateway")
    intents = _Forward("gateway")
    refuse_identify_with = _Forward("gateway")
    dispatch = _Forward("gateway")
    drop_connection = _Forward("gateway")
    send_reconnect = _Forward("gateway")
    gateway_url = _Forward("gateway")
    connected_shards = _Forward("gateway")
    resume_gateway_url = _Forward("gateway")
    # The interaction driver.
    slash_command = _Forward("driver")
    autocomplete = _Forward("driver")
    click_button = _Forward("driver")
    interaction_base = _Forward("driver")
    # Waiting and violations.
    wait_for = _Forward("monitor")
    violation = _Forward("monitor")
    violations = _Forward("monitor")

    # ------------------------------------------------------------------ lifecycle

    def application(self) -> web.Application:
        """The aiohttp app: the gateway's two websocket paths, everything else REST."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/resume-gateway", self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        return app

    async def start(self, port: int = 0) -> None:
        """Bind to ``host`` (127.0.0.1) on ``port`` (0: a free one) and serve."""
        self.monitor.bind()
        self._runner = web.AppRunner(self.application(), handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, port).start()
        self.port = int(self._runner.addresses[0][1])
        self.world.public_url = self.base_url
        self.gateway.ws_base = f"ws://{self.host}:{self.port}"
        log.debug("Discord emulator listening on %s", self.base_url)

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Set ``discord.http.Route.BASE`` to this."""
        return f"{self.base_url}{API_PREFIX}"

    # ------------------------------------------------------------------ waiting / violations

    async def wait_until_ready(self, timeout_s: float = 10.0) -> None:
        """Wait until the bot identified and every guild was dispatched (GUILD_CREATE)."""
        await self.wait_for(lambda: self.gateway.ready_count > 0, timeout_s, "the bot to IDENTIFY")

    async def wait_until_resumed(self, count: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until the gateway saw ``count`` successful RESUMEs in total."""
        await self.wait_for(lambda: self.gateway.resume_count >= count, timeout_s, f"{count} RESUME(s)")

    async def wait_for_commands(
        self, names: Iterable[str], guild_id: int | None = None, timeout_s: float = 10.0
    ) -> None:
        """Wait until the bot has synced commands with all these names (globally or to ``guild_id``)."""
        wanted = set(names)
        await self.wait_for(
            lambda: wanted <= {c["name"] for c in self.world.commands_visible(guild_id)},
            timeout_s,
            f"commands {wanted}",
        )

    def take_violations(self) -> list[Violation]:
        """Return and clear the recorded violations (for tests that provoke them on purpose)."""
        taken, self.monitor.violations = self.monitor.violations, []
        return taken

    def assert_no_violations(self) -> None:
        violations = self.monitor.violations
        if violations:
            listing = "\n".join(f"  {i + 1}. {v}" for i, v in enumerate(violations))
            raise AssertionError(f"the bot broke Discord's rules {len(violations)} time(s):\n{listing}")
