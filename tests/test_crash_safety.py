"""SIGKILL at random moments never leaves a visible partial object or a broken store.

A writer process (tests/support/proc_writer.py) puts multi-MB objects into the project's
artifact folder and records them in the SQLite metadata store, the way the registry does. It is
killed with SIGKILL after a random 20-300 ms of writing, again and again. Afterwards every
visible object hashes to its name, the real ``modelyard doctor`` console script reports a
healthy store, and ``doctor --clean`` removes the temp files the kills left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from modelyard.registry.registry import Registry
from modelyard.store.artifacts import ArtifactStore, LocalBackend
from tests.support.proc_env import child_env

PROC_WRITER = Path(__file__).parent / "support" / "proc_writer.py"
MODELYARD = Path(sys.executable).parent / "modelyard"  # the installed console script
MIN_KILLS = 20
LANES = 2
MAX_KILLS = 60  # keep killing past MIN_KILLS until at least one kill interrupted a write


class WriterServer:
    """tests/support/proc_writer.py: forks writer processes that the test SIGKILLs."""

    def __init__(self, artifacts: Path, store_url: str, workdir: Path, name: str) -> None:
        self.ready_dir = workdir
        self.log = workdir / f"{name}.stderr"
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(PROC_WRITER),
                    "--artifacts",
                    str(artifacts),
                    "--url",
                    store_url,
                    "--ready-dir",
                    str(workdir),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=child_env(),
            )
        assert self._ask(None) == "ready"

    def _ask(self, command: str | None) -> str:
        assert self.proc.stdin and self.proc.stdout
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer, f"writer server died: {self.log.read_text()}"
        return answer

    def write_then_kill(self, seed: int, delay: float) -> None:
        """Fork a writer, let it write for ``delay`` seconds, SIGKILL it, reap it."""
        ready = self.ready_dir / f"ready-{seed}"
        pid = int(self._ask(f"spawn {seed}"))
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                assert time.monotonic() < deadline, f"writer never started: {self.log.read_text()}"
                time.sleep(0.002)
            time.sleep(delay)
        finally:
            os.kill(pid, signal.SIGKILL)  # also when the wait failed: never leave a writer
        ended = self._ask(f"reap {pid}")
        assert ended == f"signal {signal.SIGKILL.value}", (
            f"writer {seed} ended by {ended}, not by our SIGKILL: {self.log.read_text()}"
        )

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()  # the server exits at end of input
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stdout
        self.proc.stdout.close()


def _doctor(project: Path, store_url: str, *extra: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [str(MODELYARD), "doctor", "--project", str(project), "--json", *extra],
        capture_output=True,
        text=True,
        env=child_env({"MODELYARD_STORE_URL": store_url}),
        timeout=120,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"doctor printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.returncode, report


def _verify_every_visible_object(artifacts: ArtifactStore) -> set[str]:
    digests = set(artifacts.digests())
    for digest in digests:  # verify() re-hashes the content and compares it to the name
        assert artifacts.verify(digest) is None, f"visible object {digest} is partial or corrupt"
    return digests


def _kill_writers_repeatedly(artifacts: ArtifactStore, store_url: str, workdir: Path) -> int:
    """Run writers in LANES lanes, SIGKILL each after 20-300 ms; return the number of kills."""
    folder = Path(artifacts.backend.url)
    with ThreadPoolExecutor(LANES) as pool:
        servers = list(
            pool.map(lambda i: WriterServer(folder, store_url, workdir, f"lane{i}"), range(LANES))
        )

    def lane(server: WriterServer, first: int, n: int) -> None:
        rng = random.Random(20240601 + first)
        for seed in range(first, first + n):
            server.write_then_kill(seed, rng.uniform(0.02, 0.3))

    per_lane = MIN_KILLS // LANES
    try:
        with ThreadPoolExecutor(LANES) as pool:
            runs = [pool.submit(lane, s, i * per_lane, per_lane) for i, s in enumerate(servers)]
            for run in runs:
                run.result()
        kills = per_lane * LANES
        while not artifacts.partial_objects() and kills < MAX_KILLS:
            lane(servers[0], kills, 1)
            kills += 1
    finally:
        for server in servers:
            server.close()
    return kills


@pytest.mark.slow
def test_sigkilled_writers_never_leave_a_visible_partial_object_and_doctor_cleans_up(
    tmp_path: Path,
) -> None:
    assert MODELYARD.exists(), f"console script not installed at {MODELYARD}"
    project = tmp_path / "proj"
    db = tmp_path / "meta.db"
    store_url = f"sqlite:///{db}"
    with Registry.init(project, env={"MODELYARD_STORE_URL": store_url}) as reg:
        artifacts = ArtifactStore(LocalBackend(Path(reg.settings.artifact_url)))

    kills = _kill_writers_repeatedly(artifacts, store_url, tmp_path)

    # --- the artifact folder: only whole objects are visible -----------------------------
    partials = artifacts.partial_objects()
    digests = _verify_every_visible_object(artifacts)
    assert partials, f"{kills} kills never interrupted a write; the test proved nothing"
    assert digests, "the writers never finished a single object"
    assert not {p.rsplit("/", 1)[-1] for p in partials} & digests

    # --- the metadata: every recorded artifact is present; the database is intact -------
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        recorded = {d for (d,) in conn.execute("SELECT digest FROM artifacts")}
    assert recorded <= digests, "a row points at an object that was never completely written"
    # a kill between a put and its commit orphans at most that one object
    assert len(digests - recorded) <= kills

    # --- the real CLI agrees, and --clean removes the leftovers -------------------------
    code, report = _doctor(project, store_url)
    assert code == 0, report
    assert report["ok"] is True and report["problems"] == [], report
    assert report["artifacts_checked"] == len(recorded)
    assert sorted(report["partial_objects"]) == sorted(partials)
    assert report["cleaned"] == 0

    code, report = _doctor(project, store_url, "--clean")
    assert code == 0, report
    assert report["cleaned"] == len(partials)
    assert artifacts.partial_objects() == []
    assert _verify_every_visible_object(artifacts) == digests, "--clean touched a real object"

    print(f"\n{kills} kills: {len(digests)} objects, {len(partials)} partial writes cleaned")
    shutil.rmtree(artifacts.backend.url)  # hundreds of MB; pytest keeps the last 3 tmp dirs
