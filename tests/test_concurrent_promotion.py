"""Real OS processes promoting different versions at once never leave two champions.

Four child processes (tests/support/proc_promote.py, each with its own engine and
connections) start together on a start file and each promote random versions to production on
the same endpoint. The parent watches the endpoint during the storm with single-statement
(single-snapshot) queries, then checks the final routes, version states and transition logs.
Runs on SQLite (a file) and PostgreSQL (a fresh schema) through the ``store_url`` fixture.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from modelyard.core.lifecycle import TRANSITIONS, Role, State
from modelyard.core.records import Transition
from modelyard.store.metadata import MetadataStore
from modelyard.testing.store_contract import _version
from tests.support.proc_env import child_env, warm_imports

PROC_PROMOTE = Path(__file__).parent / "support" / "proc_promote.py"
N_VERSIONS = 6
N_PROCS = 4
ROUNDS = 25
STORM_S = 1.5  # each promoter keeps going at least this long, so the watcher sees the storm

# One statement, so one snapshot on both backends: nothing can change between the counts.
WATCH = text(
    """
    SELECT
      (SELECT count(*) FROM routes WHERE endpoint = :ep AND role = 'production') AS production,
      (SELECT count(*) FROM routes WHERE endpoint = :ep) AS routed,
      (SELECT count(*) FROM model_versions
         WHERE model_name = :model AND state = 'deployed') AS deployed,
      (SELECT generation FROM endpoints WHERE name = :ep) AS generation
    """
)


@pytest.fixture(scope="module", autouse=True)
def _children_import_fast() -> None:
    warm_imports("modelyard.store.metadata")


def _approved_versions(store: MetadataStore, model: str, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        vid = _version(store, model).id
        store.versions.transition(vid, State.VALIDATED, "setup", "gates passed")
        store.versions.transition(vid, State.APPROVED, "setup", "reviewed")
        ids.append(vid)
    return ids


def _start_children(
    store_url: str,
    endpoint: str,
    ids: list[int],
    workdir: Path,
    children: list[subprocess.Popen[str]],
) -> Path:
    """Start the promoters (appending to ``children``); return the start file to create."""
    go = workdir / "go"
    for i in range(N_PROCS):
        cmd = [
            sys.executable,
            str(PROC_PROMOTE),
            "--url",
            store_url,
            "--endpoint",
            endpoint,
            "--ids",
            ",".join(map(str, ids)),
            "--rounds",
            str(ROUNDS),
            "--min-seconds",
            str(STORM_S),
            "--seed",
            str(1000 + i),
            "--name",
            f"proc{i}",
            "--ready",
            str(workdir / f"ready{i}"),
            "--go",
            str(go),
        ]
        children.append(
            subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env()
            )
        )
    deadline = time.monotonic() + 60
    while not all((workdir / f"ready{i}").exists() for i in range(N_PROCS)):
        for c in children:
            if c.poll() is not None:
                out, err = c.communicate()
                pytest.fail(f"a promoter died before the start signal:\n{out}\n{err}")
        assert time.monotonic() < deadline, "promoters did not get ready within 60 s"
        time.sleep(0.01)
    return go


def _watch_until_done(
    store: MetadataStore, endpoint: str, model: str, children: list[subprocess.Popen[str]]
) -> list[dict[str, Any]]:
    # a plain reader: the store's transactions take SQLite's write lock at BEGIN (IMMEDIATE),
    # which would queue the watcher behind the promoters; under WAL a plain read never waits
    reader = create_engine(store.engine.url)
    seen = []
    try:
        while any(c.poll() is None for c in children):
            with reader.connect() as conn:
                row = conn.execute(WATCH, {"ep": endpoint, "model": model}).mappings().one()
            seen.append(dict(row))
            time.sleep(0.01)
    finally:
        reader.dispose()
    return seen


def _check_history(store: MetadataStore, vid: int) -> list[Transition]:
    history = store.versions.transitions_of(vid)
    assert history[0].from_state is None
    assert history[0].to_state == State.PROPOSED
    for before, after in itertools.pairwise(history):
        assert after.from_state == before.to_state, f"version {vid}: broken chain {history}"
        assert State(after.to_state) in TRANSITIONS[State(after.from_state)], (
            f"version {vid}: illegal {after.from_state} -> {after.to_state}"
        )
    current = store.versions.by_id(vid).state
    assert history[-1].to_state == current, f"version {vid}: log does not end in {current}"
    return history


@pytest.mark.slow
def test_concurrent_promotions_by_separate_processes_leave_exactly_one_champion(
    store_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    model, endpoint = f"m{tag}", f"ep{tag}"
    store = MetadataStore(store_url).open()
    children: list[subprocess.Popen[str]] = []
    try:
        ids = _approved_versions(store, model, N_VERSIONS)
        go = _start_children(store_url, endpoint, ids, tmp_path, children)
        go.touch()
        seen = _watch_until_done(store, endpoint, model, children)

        results = []
        for c in children:
            out, err = c.communicate(timeout=120)
            assert c.returncode == 0, f"promoter failed (exit {c.returncode}):\n{out}\n{err}"
            results.append(json.loads(out.strip().splitlines()[-1]))

        # --- what the promoters report -------------------------------------------------
        outcomes: dict[str, int] = {}
        for r in results:
            for kind, n in r["outcome"].items():
                outcomes[kind] = outcomes.get(kind, 0) + n
        rounds = sum(outcomes.values())
        assert rounds >= N_PROCS * ROUNDS, outcomes
        unexpected = {k: n for k, n in outcomes.items() if k not in ("ok", "conflict")}
        unexpected = {k: n for k, n in unexpected.items() if not k.startswith("retryable:")}
        assert not unexpected, f"promotion raised non-retryable errors: {outcomes}"
        ok = outcomes.get("ok", 0)
        assert ok >= rounds // 2, f"too few promotions succeeded: {outcomes}"
        timings = [(round(r["ready_s"], 2), round(r["storm_s"], 2)) for r in results]
        print(f"\n{store.dialect}: {outcomes}, {len(seen)} watcher polls, timings {timings}")

        # the promoters really ran at the same time: each one's storm overlaps another's
        for r in results:
            others = [o for o in results if o is not r]
            assert any(o["began"] < r["ended"] and r["began"] < o["ended"] for o in others), (
                f"{r['name']} ran alone: {[(o['began'], o['ended']) for o in results]}"
            )

        # --- what the watcher saw during the storm -------------------------------------
        assert len(seen) >= 5, f"the watcher barely overlapped the storm: {len(seen)} polls"
        assert all(s["production"] <= 1 for s in seen), "two champions were visible at once"
        champion_seen = False
        last_generation = 0
        for s in seen:
            assert s["routed"] == s["production"], f"a non-production route appeared: {s}"
            assert s["deployed"] == s["production"], f"deployed states disagree with routes: {s}"
            champion_seen = champion_seen or s["production"] == 1
            assert not (champion_seen and s["production"] == 0), "the endpoint lost its champion"
            generation = s["generation"] or 0
            assert generation >= last_generation, "the endpoint generation went backwards"
            last_generation = generation

        # --- the final state -----------------------------------------------------------
        routes = store.routes.all(endpoint)
        assert len(routes) == 1, routes
        assert routes[0].role == Role.PRODUCTION
        champion = routes[0].model_version_id
        assert any(champion in r["promoted"] for r in results)
        states = {vid: store.versions.by_id(vid).state for vid in ids}
        assert states[champion] == State.DEPLOYED, states
        assert all(s == State.APPROVED for vid, s in states.items() if vid != champion), states
        # every successful promotion bumped the generation exactly once: no lost update
        assert store.routes.generation(endpoint) == ok

        # --- every version's log is a legal walk ending in its current state ------------
        deployed_transitions = 0
        for vid in ids:
            history = _check_history(store, vid)
            deployed_transitions += sum(h.to_state == State.DEPLOYED for h in history)
        # promotions of the sitting champion change no state; all others deploy a version
        assert 1 <= deployed_transitions <= ok
    finally:
        for c in children:  # only left running when the test failed early
            if c.poll() is None:
                c.kill()
                c.communicate()
        store.close()
