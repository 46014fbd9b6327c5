"""Several processes creating the same new database at once: each finds the schema whole, none dies.

Issue 14 item 11: two `kiji ingest` on a new file, and one of them died with "table posts already
exists" (3 of 5 rounds): both read version 0, both ran migration 1. The version is now read again
inside the migration's BEGIN IMMEDIATE, so the second waits and finds nothing left to do.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from factories import write_post
from kiji_cli import REPO, environment

from bot.store.schema import SCHEMA_VERSION

PROCESSES = 3
ROUNDS = 5

# Opens the store once told to (a line on stdin), writes one post, prints what it saw.
OPEN_ON_CUE = """
import asyncio, sys
from factories import NOW, record
from bot.store import Store

async def main(path, name):
    store = await Store.open(path)
    try:
        await store.write_batch([record(name, name.upper(), "body")], now=NOW)
        print(await store.schema_version(), flush=True)
    finally:
        await store.close()

print("ready", flush=True)
sys.stdin.readline()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_processes_opening_a_new_database_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    for round_number in range(ROUNDS):
        path = tmp_path / f"round-{round_number}.sqlite3"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_ON_CUE, str(path), f"p{index}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=environment(),
                cwd=REPO,
            )
            for index in range(PROCESSES)
        ]
        try:
            for process in processes:  # every one imported and waiting: then all are let go at once
                assert process.stdout is not None and process.stdout.readline().strip() == "ready"
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            outcomes = [process.communicate(timeout=60) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        for process, (out, err) in zip(processes, outcomes, strict=True):
            assert process.returncode == 0, f"round {round_number}: {err}"
            assert out.strip() == str(SCHEMA_VERSION), (round_number, out, err)
        with sqlite3.connect(path) as raw:
            assert sorted(row[0] for row in raw.execute("SELECT path FROM posts")) == [
                f"p{index}" for index in range(PROCESSES)
            ]
            assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_two_kiji_ingest_of_one_new_database_both_succeed(tmp_path: Path) -> None:
    posts = tmp_path / "posts"
    posts.mkdir()
    write_post(posts, "2025-01-01-first.md", "最初の記事", "推論コストについての本文です。", tags="[AI]")
    write_post(posts, "2025-01-02-second.md", "Second post", "An English body about RAG.")
    for round_number in range(ROUNDS):
        db = tmp_path / f"kiji-{round_number}.db"
        command = [sys.executable, "-m", "bot.cli", "ingest", "--posts", str(posts), "--db", str(db), "--json"]
        processes = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())
            for _ in range(2)
        ]
        outcomes = [process.communicate(timeout=120) for process in processes]
        for process, (_, err) in zip(processes, outcomes, strict=True):
            assert process.returncode == 0, f"round {round_number}: {err}"
        reports = [json.loads(out) for out, _ in outcomes]
        # one of them stored the two posts; the other found them stored, or stored them first
        assert sorted(report["added"] + report["unchanged"] + report["updated"] for report in reports) == [2, 2]
        assert sum(report["added"] for report in reports) == 2
