"""Two processes' service stacks on one real PostgreSQL: a push verified by the process without the sync
lease is synced by the one holding it, and the other's cached tag list follows the ingest (issue 24, point 4).

Each "process" is what `kiji run` builds: its own store (pool and listening connection), its own
git clone, its own ingest process, its own `BlogSync` with the push webhook on a real port of
127.0.0.1; the lease is the real `SyncLease` row. The blog is a real repository behind `git daemon`,
and the pushes are real signed HTTP POSTs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from git_server import BlogRemote, BlogRemotes, GitDaemon

from bot.clock import ManualClock
from bot.services.blogs import SourceOutcome
from bot.services.lease import SyncLease
from bot.services.sync import BlogSync
from bot.services.webhooks import WebhookConfig
from bot.sources.git import GitSource
from bot.sources.specs import GitSpec, parse_spec
from bot.store import KijiStore, open_store
from bot.store.cluster_events import POSTS_CHANGED, ClusterEvent
from bot.store.postgres.cluster_events import APPLICATION_NAME

SECRET = "cluster-webhook-secret-never-logged"
WAIT_S = 60.0  # a clone and an ingest on a loaded machine; the waits end as soon as the condition holds
NEW_POST = "_posts/2020-05-05-pushed-to-the-other-process.md"
NEW_TAG = "handed-over"


@dataclass
class Process:
    """One `kiji run`'s services."""

    store: KijiStore
    lease: SyncLease
    sync: BlogSync
    outcomes: asyncio.Queue[SourceOutcome]
    events: asyncio.Queue[ClusterEvent]

    async def post_push(self, session: aiohttp.ClientSession, clone_url: str) -> tuple[int, dict[str, object]]:
        body = json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": clone_url}}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert self.sync.webhook is not None
        async with session.post(
            f"http://127.0.0.1:{self.sync.webhook.port}/",
            data=body,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": signature, "Content-Type": "application/json"},
        ) as response:
            return response.status, await response.json()

    async def next_ingest_that_added(self) -> SourceOutcome:
        while True:
            outcome = await asyncio.wait_for(self.outcomes.get(), WAIT_S)
            if outcome.report is not None and outcome.report.added:
                return outcome

    async def hears(self, kind: str) -> ClusterEvent:
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT_S)
            if event.kind == kind:
                return event


@dataclass
class Cluster:
    holder: Process
    other: Process
    remote: BlogRemote
    url: str


async def start_process(url: str, spec: GitSpec, data: Path, name: str, clock: ManualClock) -> Process:
    store = await open_store(url)
    lease = SyncLease(store, holder=name)
    await lease.renew()
    source = GitSource(spec, data)
    sync = BlogSync(
        store,
        [source],
        poll_seconds=3600.0,
        clock=clock,
        webhook=WebhookConfig("127.0.0.1", 0, SECRET),
        watch_files=False,
        holds_lease=lambda: lease.held,
    )
    outcomes: asyncio.Queue[SourceOutcome] = asyncio.Queue()
    sync.listeners.append(outcomes.put_nowait)
    await sync.start()
    events: asyncio.Queue[ClusterEvent] = asyncio.Queue()
    await store.listen_events(events.put_nowait)  # after the relay's own handler: it has acted when this hears
    return Process(store, lease, sync, outcomes, events)


@pytest.fixture
async def cluster(
    postgres_url: str, git_daemon: GitDaemon, blog_remotes: BlogRemotes, tmp_path: Path
) -> AsyncIterator[Cluster]:
    remote = blog_remotes.blog(posts=3)
    url = git_daemon.url(remote)
    spec = parse_spec(f"git+{url}")
    assert isinstance(spec, GitSpec)
    clock = ManualClock()  # no poll comes due: only pushes make a blog sync here
    holder = await start_process(postgres_url, spec, tmp_path / "holder-data", "holder", clock)
    other = await start_process(postgres_url, spec, tmp_path / "other-data", "other", clock)
    try:
        assert (holder.lease.held, other.lease.held) == (True, False)
        await holder.sync.synced_once()
        await other.sync.synced_once()
        assert holder.outcomes.get_nowait().report.added == 3  # type: ignore[union-attr]  # the start's own ingest
        assert other.outcomes.empty()
        await other.hears(POSTS_CHANGED)  # the start's ingest, told to every process: the tests wait for the next one
        yield Cluster(holder, other, remote, url)
    finally:
        for process in (other, holder):
            await process.sync.stop()
            await process.store.close()


async def test_a_push_verified_by_the_other_process_is_synced_by_the_lease_holder(cluster: Cluster) -> None:
    holder, other = cluster.holder, cluster.other
    assert holder.sync.syncs == 1 and other.sync.syncs == 0  # the start: only the holder read the blog
    cluster.remote.write(NEW_POST, f"---\ntitle: Pushed elsewhere\ntags: [{NEW_TAG}]\n---\nA post.\n")
    cluster.remote.commit("A post")
    async with aiohttp.ClientSession() as session:
        status, answer = await other.post_push(session, cluster.url)
    [blog] = [source.name for source in other.sync.sources]
    assert (status, answer) == (202, {"triggered": [blog]})
    outcome = await holder.next_ingest_that_added()
    assert (outcome.source.name, outcome.report.added if outcome.report else 0) == (blog, 1)
    assert await holder.store.get_post_by_path(NEW_POST) is not None
    assert other.sync.syncs == 0 and other.sync.cluster.handed_over == 1  # it never synced: it handed over


async def test_a_push_verified_by_the_holder_is_synced_there_without_handing_over(cluster: Cluster) -> None:
    holder, other = cluster.holder, cluster.other
    cluster.remote.write(NEW_POST, "---\ntitle: Pushed to the holder\n---\nA post.\n")
    cluster.remote.commit("A post")
    async with aiohttp.ClientSession() as session:
        status, _answer = await holder.post_push(session, cluster.url)
    assert status == 202
    await holder.next_ingest_that_added()
    assert await other.store.get_post_by_path(NEW_POST) is not None  # stored once, seen by both
    assert (holder.sync.cluster.handed_over, other.sync.syncs) == (0, 0)


async def test_the_other_process_s_cached_tags_follow_the_holder_s_ingest(cluster: Cluster) -> None:
    holder, other = cluster.holder, cluster.other
    before = {tag.name for tag in await other.store.tags()}  # read, and cached for a minute
    assert before and NEW_TAG not in before
    cluster.remote.write(NEW_POST, f"---\ntitle: A new tag\ntags: [{NEW_TAG}]\n---\nA post.\n")
    cluster.remote.commit("A post")
    holder.sync.push(other.sync.sources[0].name)
    await holder.next_ingest_that_added()
    assert await other.hears(POSTS_CHANGED) == ClusterEvent(POSTS_CHANGED)
    assert {tag.name for tag in await other.store.tags()} == before | {NEW_TAG}


async def test_after_its_listener_was_away_the_holder_looks_at_every_blog(cluster: Cluster, postgres_url: str) -> None:
    """A push handed over while the holder's listening connection was down is lost: it syncs every blog."""
    holder, other = cluster.holder, cluster.other
    cluster.remote.write(NEW_POST, "---\ntitle: Pushed while nobody listened\n---\nA post.\n")
    cluster.remote.commit("A post")
    admin = await asyncpg.connect(postgres_url)
    try:
        terminated = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
    finally:
        await admin.close()
    assert terminated == 2  # one listening connection per process
    await holder.next_ingest_that_added()
    assert await holder.store.get_post_by_path(NEW_POST) is not None
    assert other.sync.syncs == 0
