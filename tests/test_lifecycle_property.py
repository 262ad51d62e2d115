"""The lifecycle rules hold under any sequence of operations on a real SQLite-backed registry.

A hypothesis state machine registers versions, moves them to random states, deploys them to
two endpoints with random roles, undeploys and retires them, predicting every outcome from a
plain-Python model built on ``core.lifecycle``; after every step it checks the database
against the model and the invariants below. Each state-machine run gets a fresh SQLite file
(copied from one migrated template, so runs don't pay for migrations).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from modelyard.core.errors import Conflict, IllegalTransition
from modelyard.core.lifecycle import (
    DEPLOYABLE,
    ROUTABLE,
    TRANSITIONS,
    Role,
    State,
    check_deployable,
    check_transition,
)
from modelyard.registry.registry import Registry
from modelyard.store import schema as t
from modelyard.store.metadata import MetadataStore
from modelyard.testing.store_contract import _version

MODEL = "churn"
ENDPOINTS = ("ep-a", "ep-b")
MAX_VERSIONS = 4
states = st.sampled_from(list(State))
roles = st.sampled_from(list(Role))
endpoints = st.sampled_from(ENDPOINTS)
HAS_SERVED = frozenset({State.DEPLOYED, State.DEPRECATED})


# ---- the pure rules -------------------------------------------------------------------------
@given(current=states, target=states, as_text=st.booleans())
def test_check_transition_refuses_exactly_the_moves_the_table_forbids(
    current: State, target: State, as_text: bool
) -> None:
    args = (current.value, target.value) if as_text else (current, target)
    if target in TRANSITIONS[current]:
        check_transition(*args)
        return
    with pytest.raises(IllegalTransition) as refused:
        check_transition(*args, what="m@1")
    assert refused.value.details == {"current": current.value, "target": target.value}
    assert f"from {current.value} to {target.value}" in refused.value.message
    assert refused.value.hint and refused.value.hint.startswith(f"allowed from {current.value}")


@given(current=states)
def test_only_approved_or_deployed_versions_may_receive_traffic(current: State) -> None:
    if current in DEPLOYABLE:
        check_deployable(current)
    else:
        with pytest.raises(IllegalTransition):
            check_deployable(current)


def test_the_transition_table_is_a_closed_lifecycle() -> None:
    assert set(TRANSITIONS) == set(State), "every state has an entry"
    assert TRANSITIONS[State.RETIRED] == frozenset(), "retired is final"
    assert all(s not in TRANSITIONS[s] for s in State), "no self-loops"
    reachable, frontier = {State.PROPOSED}, [State.PROPOSED]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()] - reachable:
            reachable.add(nxt)
            frontier.append(nxt)
    assert reachable == set(State), "every state is reachable from proposed"


# ---- the state machine over a real registry ---------------------------------------------------
class LifecycleMachine(RuleBasedStateMachine):
    """Operations on a registry, checked against a model of states and routes."""

    template: Path  # a migrated, empty SQLite file (set by the test below)
    versions = Bundle("versions")

    def __init__(self) -> None:
        super().__init__()
        self.tmp: Path | None = None
        self.reg: Registry | None = None
        self.state: dict[int, State] = {}  # version number -> expected state
        self.ids: dict[int, int] = {}  # version number -> row id
        self.routes: dict[str, dict[int, Role]] = {ep: {} for ep in ENDPOINTS}
        self.ever_retired: set[int] = set()

    # -- set-up and tear-down ----------------------------------------------------------------
    @initialize()
    def open_fresh_registry(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="modelyard-lifecycle-"))
        db = self.tmp / "meta.db"
        shutil.copyfile(self.template, db)
        env = {"MODELYARD_STORE_URL": f"sqlite:///{db}", "MODELYARD_USER": "prop"}
        self.reg = Registry.init(self.tmp / "proj", env=env, identity="os")

    def teardown(self) -> None:
        if self.reg is not None:
            self.reg.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def store(self) -> MetadataStore:
        assert self.reg is not None
        return self.reg.store

    # -- the model ---------------------------------------------------------------------------
    def _routed(self, n: int) -> bool:
        return any(n in on_ep for on_ep in self.routes.values())

    def _drop_route(self, ep: str, n: int) -> None:
        self.routes[ep].pop(n, None)
        if not self._routed(n) and self.state[n] is State.DEPLOYED:
            self.state[n] = State.APPROVED  # the last route is gone: back to approved

    def _expect_transition(self, n: int, target: State) -> type[Exception] | None:
        current = self.state[n]
        if target not in TRANSITIONS[current]:
            return IllegalTransition
        # allowed by the table, but routes decide: only routing deploys a version, and a
        # version that still serves may only move to a state that may keep serving
        if target is State.DEPLOYED or (self._routed(n) and target not in ROUTABLE):
            return Conflict
        return None

    # -- rules -------------------------------------------------------------------------------
    @rule(target=versions)
    def register_a_version(self) -> int:
        if len(self.state) >= MAX_VERSIONS:
            return max(self.state)  # keep endpoints contended: re-offer an existing version
        mv = _version(self.store, MODEL)
        self.state[mv.version], self.ids[mv.version] = State.PROPOSED, mv.id
        return mv.version

    def _transition(self, n: int, target: State) -> None:
        assert self.reg is not None
        expected = self._expect_transition(n, target)
        outcome = "moved" if expected is None else f"refused ({expected.__name__})"
        event(f"{self.state[n].value} -> {target.value}: {outcome}")
        if expected is None:
            mv = self.reg.transition(f"{MODEL}@{n}", target, reason=f"to {target.value}")
            assert mv.state == target
            self.state[n] = target
        else:
            with pytest.raises(expected) as refused:
                self.reg.transition(f"{MODEL}@{n}", target, reason=f"to {target.value}")
            # IllegalTransition exactly when the table forbids the move
            assert isinstance(refused.value, IllegalTransition) == (expected is IllegalTransition)
        if target is State.RETIRED and expected is None:
            self.ever_retired.add(n)

    @rule(n=versions, to=states)
    def move_a_version_to_any_state(self, n: int, to: State) -> None:
        self._transition(n, to)

    @rule(n=versions)
    def pass_gates_and_approve(self, n: int) -> None:
        for step in (State.VALIDATED, State.APPROVED):
            if step in TRANSITIONS[self.state[n]] and self._expect_transition(n, step) is None:
                self._transition(n, step)

    # retiring a version that never served is covered by the random moves above
    @precondition(lambda self: any(s in HAS_SERVED for s in self.state.values()))
    @rule(data=st.data())
    def retire_a_version_that_served(self, data: st.DataObject) -> None:
        served = sorted(v for v, s in self.state.items() if s in HAS_SERVED)
        self._transition(data.draw(st.sampled_from(served)), State.RETIRED)

    @rule(n=versions, ep=endpoints, role=roles)
    def deploy_any_version(self, n: int, ep: str, role: Role) -> None:
        self._deploy(n, ep, role)

    @precondition(lambda self: any(s in DEPLOYABLE for s in self.state.values()))
    @rule(data=st.data(), ep=endpoints, role=roles)
    def deploy_a_deployable_version(self, data: st.DataObject, ep: str, role: Role) -> None:
        n = data.draw(st.sampled_from(sorted(v for v, s in self.state.items() if s in DEPLOYABLE)))
        self._deploy(n, ep, role)

    @precondition(lambda self: any(s in DEPLOYABLE for s in self.state.values()))
    @rule(data=st.data(), ep=endpoints)
    def promote_a_challenger_to_production(self, data: st.DataObject, ep: str) -> None:
        deployable = sorted(v for v, s in self.state.items() if s in DEPLOYABLE)
        champion = [v for v, role in self.routes[ep].items() if role is Role.PRODUCTION]
        challengers = [v for v in deployable if v not in champion] or deployable
        self._deploy(data.draw(st.sampled_from(challengers)), ep, Role.PRODUCTION)

    def _deploy(self, n: int, ep: str, role: Role) -> None:
        assert self.reg is not None
        event(f"deploy {self.state[n].value} as {role.value}")
        if self.state[n] not in DEPLOYABLE:
            with pytest.raises(IllegalTransition):
                self.reg.deploy(f"{MODEL}@{n}", ep, role, reason="try")
            return
        mv = self.reg.deploy(f"{MODEL}@{n}", ep, role, reason="deploy")
        if role is Role.PRODUCTION:
            for old, old_role in list(self.routes[ep].items()):
                if old != n and old_role is Role.PRODUCTION:
                    event("deploy replaces the champion")
                    self._drop_route(ep, old)
        self.routes[ep][n] = role
        self.state[n] = State.DEPLOYED
        assert mv.state == State.DEPLOYED

    @precondition(lambda self: State.DEPLOYED in self.state.values())
    @rule(data=st.data())
    def deprecate_a_serving_version(self, data: st.DataObject) -> None:
        serving = sorted(v for v, s in self.state.items() if s is State.DEPLOYED)
        self._transition(data.draw(st.sampled_from(serving)), State.DEPRECATED)

    @rule(n=versions, ep=endpoints)
    def undeploy_any_version(self, n: int, ep: str) -> None:
        self._undeploy(n, ep)

    @precondition(lambda self: any(self.routes.values()))
    @rule(data=st.data())
    def undeploy_a_routed_version(self, data: st.DataObject) -> None:
        pairs = sorted((ep, n) for ep, on_ep in self.routes.items() for n in on_ep)
        ep, n = data.draw(st.sampled_from(pairs))
        self._undeploy(n, ep)

    def _undeploy(self, n: int, ep: str) -> None:
        assert self.reg is not None
        self.reg.undeploy(f"{MODEL}@{n}", ep, reason="undeploy")
        self._drop_route(ep, n)

    # -- invariants, checked against the database after every step ----------------------------
    def _db(
        self,
    ) -> tuple[dict[int, str], list[dict[str, Any]], dict[int, list[tuple[str | None, str]]]]:
        with self.store.tx() as conn:
            mv = t.model_versions
            stored = {vid: s for vid, s in conn.execute(select(mv.c.id, mv.c.state))}
            routes = [dict(r) for r in conn.execute(select(t.routes)).mappings()]
            log: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
            tr = t.transitions
            q = select(tr.c.model_version_id, tr.c.from_state, tr.c.to_state).order_by(tr.c.id)
            for vid, frm, to in conn.execute(q):
                log[vid].append((frm, to))
        return stored, routes, log

    @invariant()
    def database_matches_the_model_and_the_rules(self) -> None:
        if self.reg is None:
            return
        stored, routes, log = self._db()
        by_id = {vid: n for n, vid in self.ids.items()}

        # the state stored equals the model's state
        assert {by_id[vid]: State(s) for vid, s in stored.items()} == self.state
        # the routes stored equal the model's routes
        found: dict[str, dict[int, Role]] = {ep: {} for ep in ENDPOINTS}
        for r in routes:
            found[str(r["endpoint"])][by_id[int(r["model_version_id"])]] = Role(r["role"])
        assert found == self.routes

        # at most one production route per endpoint
        for ep in ENDPOINTS:
            champions = [r for r in routes if r["endpoint"] == ep and r["role"] == "production"]
            assert len(champions) <= 1, f"{ep} has {len(champions)} production routes"
        routed = {int(r["model_version_id"]) for r in routes}
        for vid, s in stored.items():
            # a version with a route is deployed (or deprecated: it may drain while it serves)
            if vid in routed:
                assert State(s) in ROUTABLE, f"version {by_id[vid]} is routed but {s}"
            # every deployed version has a route
            if s == State.DEPLOYED:
                assert vid in routed, f"version {by_id[vid]} is deployed with no route"
            # retired versions never have routes and never leave retired
            if by_id[vid] in self.ever_retired:
                assert s == State.RETIRED and vid not in routed

        # the transition log replays to the current state
        for vid, s in stored.items():
            replayed: str | None = None
            for frm, to in log[vid]:
                assert frm == replayed, f"version {by_id[vid]}: log skips from {replayed}"
                if frm is None:
                    assert to == State.PROPOSED
                else:
                    assert State(to) in TRANSITIONS[State(frm)], f"illegal {frm} -> {to}"
                replayed = to
            assert replayed == s, f"version {by_id[vid]}: log replays to {replayed}, not {s}"


def test_lifecycle_rules_hold_for_any_sequence_of_operations(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    MetadataStore(f"sqlite:///{template}").open().close()  # migrate once
    with sqlite3.connect(template) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    conn.close()
    LifecycleMachine.template = template
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
