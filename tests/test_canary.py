"""Canary rollouts: analysis figures, promote/hold/roll back by itself, resume after restart,
one controller at a time. Signals come from a scripted source here; the end-to-end test in
tests/e2e drives a real server."""

from __future__ import annotations

import datetime as dt

import pytest

from modelyard.core.rollout_config import RolloutPolicy
from modelyard.orchestration import canary
from modelyard.orchestration.signals import Snapshot, VersionCounts, parse_metrics
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.rollouts import RolloutStore

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BUCKETS = (0.001, 0.005, 0.01, 0.05, float("inf"))


def counts(requests: float, errors: float = 0, fast: float = 1.0) -> VersionCounts:
    """``fast`` share of requests under 1 ms, the rest at ~20 ms."""
    ok = requests
    le = {0.001: ok * fast, 0.005: ok * fast, 0.01: ok * fast, 0.05: ok, float("inf"): ok}
    return VersionCounts(requests, errors, le)


class Script:
    """A signal source whose counters the test advances."""

    def __init__(self) -> None:
        self.now: Snapshot = {}

    def add(self, version: str, c: VersionCounts) -> None:
        cur = self.now.setdefault(version, VersionCounts(0, 0, dict.fromkeys(BUCKETS, 0.0)))
        cur.requests += c.requests
        cur.errors += c.errors
        for le, n in c.buckets.items():
            cur.buckets[le] = cur.buckets.get(le, 0.0) + n

    def snapshot(self, endpoint: str) -> Snapshot:
        return {
            v: VersionCounts(c.requests, c.errors, dict(c.buckets)) for v, c in self.now.items()
        }


POLICY = RolloutPolicy(steps=(0.1, 0.5, 1.0), interval_s=30, min_requests=20, failure_limit=2)


def _two(reg: Registry) -> tuple[ModelVersion, ModelVersion]:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    out = []
    for depth in (1, 2):
        mv = reg.register_model(DecisionTreeClassifier(max_depth=depth).fit(X, y), "wine", X.head())
        reg.transition(mv, "validated", reason="gates")
        out.append(reg.transition(mv, "approved", reason="review"))
    reg.deploy(out[0], "wine", reason="champion")
    return out[0], out[1]


def _tick(ctl: canary.Controller, at: float) -> list[dict[str, object]]:
    return ctl.tick(T0 + dt.timedelta(seconds=at))


def test_analysis_fails_on_errors_and_slow_p99_and_holds_without_traffic() -> None:
    healthy = canary.analyse(counts(100), counts(900), POLICY, 0, 0.1)
    assert healthy.decision == "promote" and healthy.figures["canary_error_rate"] == 0
    erring = canary.analyse(counts(100, errors=5), counts(900), POLICY, 0, 0.1)
    assert erring.decision == "fail" and "error rate 5.00%" in erring.reasons[0]
    slow = canary.analyse(counts(100, fast=0.0), counts(900), POLICY, 0, 0.1)
    assert slow.decision == "fail" and "p99" in slow.reasons[0]
    quiet = canary.analyse(counts(5), counts(900), POLICY, 0, 0.1)
    assert quiet.decision == "hold"


def test_a_p99_a_few_milliseconds_above_a_tiny_champion_p99_is_not_a_regression() -> None:
    """On a fast machine both p99s sit in the first buckets: 2 ms against 0.9 ms is a ratio of
    2.2 but no regression anyone can feel; the slack keeps it from failing a healthy canary."""

    def at(ms: float, n: float = 100) -> VersionCounts:
        return VersionCounts(n, 0, {ms / 1000: n, float("inf"): n})

    near = canary.analyse(at(2.0), at(0.9), POLICY, 0, 0.1)
    assert near.decision == "promote", near.reasons
    far = canary.analyse(at(9.0), at(0.9), POLICY, 0, 0.1)
    assert far.decision == "fail" and "x champion's" in far.reasons[0]
    strict = RolloutPolicy(**{**POLICY.model_dump(), "p99_slack_ms": 0.0})
    assert canary.analyse(at(2.0), at(0.9), strict, 0, 0.1).decision == "fail"


def test_histogram_quantile_interpolates_like_promql() -> None:
    c = VersionCounts(100, 0, {0.01: 50, 0.02: 100, float("inf"): 100})
    assert c.quantile_ms(0.5) == pytest.approx(10.0)
    assert c.quantile_ms(0.75) == pytest.approx(15.0)


def test_metrics_text_is_summed_per_version() -> None:
    text = (
        'modelyard_requests_total{endpoint="wine",version="wine@2",protocol="v1",status="200"} 9\n'
        'modelyard_requests_total{endpoint="wine",version="wine@2",protocol="v1",status="500"} 1\n'
        'modelyard_requests_total{endpoint="other",version="x@1",protocol="v1",status="200"} 7\n'
    )
    snap = parse_metrics(text, "wine")
    snap = parse_metrics(text, "wine", snap)  # a second replica
    assert snap["wine@2"].requests == 20 and snap["wine@2"].errors == 2 and "x@1" not in snap


def test_a_healthy_canary_is_promoted_step_by_step(registry: Registry) -> None:
    champ, cand = _two(registry)
    rid = canary.start(registry, cand.ref, "wine", POLICY)
    script = Script()
    ctl = canary.Controller(registry, script, owner="ctl-a")
    weights = []
    for step in range(3):
        at = step * 100
        assert _tick(ctl, at) == []  # marks the step's starting counters
        script.add(cand.ref, counts(60))
        script.add(champ.ref, counts(540))
        done = _tick(ctl, at + 31)
        weights.append([r.weight for r in registry.store.routes.all("wine") if r.version == 2])
        if done and done[0].get("outcome") == "promoted":
            break
    row = RolloutStore(registry.store).get(rid)
    assert row.status == "promoted"
    assert weights == [[0.5], [1.0]], "10% → 50% → production"
    plan = {(r.version, r.role) for r in registry.store.routes.all("wine")}
    assert plan == {(2, "production")} and registry.model_version(champ.ref).state == "approved"


def test_an_erring_canary_is_rolled_back_by_itself_with_its_figures(registry: Registry) -> None:
    champ, cand = _two(registry)
    rid = canary.start(registry, cand.ref, "wine", POLICY)
    script = Script()
    ctl = canary.Controller(registry, script, owner="ctl-a")
    outcomes = []
    for k in range(2):
        _tick(ctl, k * 100)
        script.add(cand.ref, counts(50, errors=10))
        script.add(champ.ref, counts(450))
        outcomes += [d.get("outcome") for d in _tick(ctl, k * 100 + 31)]
    assert outcomes == ["failed_check", "rolled_back"]
    row = RolloutStore(registry.store).get(rid)
    assert row.status == "rolled_back" and row.failures == 2
    analyses = [h for h in row.history if h["kind"] == "analysis"]
    assert analyses[-1]["figures"]["canary_error_rate"] == pytest.approx(10 / 50)
    assert [(r.version, r.role) for r in registry.store.routes.all("wine")] == [(1, "production")]
    actions = [e.action for e in registry.store.chain.entries(target_prefix="endpoint:wine")]
    assert "rollout.rollback" in actions


def test_a_restarted_controller_resumes_and_only_one_leads(registry: Registry) -> None:
    champ, cand = _two(registry)
    canary.start(registry, cand.ref, "wine", POLICY)
    script = Script()
    first = canary.Controller(registry, script, owner="ctl-a", lease_ttl_s=60)
    _tick(first, 0)
    script.add(cand.ref, counts(60))
    script.add(champ.ref, counts(540))
    other = canary.Controller(registry, script, owner="ctl-b", lease_ttl_s=60)
    assert not other.is_leader() and other.tick(T0 + dt.timedelta(seconds=31)) == []
    # the first controller "crashes"; its lease lapses; a new process picks up the stored state
    RolloutStore(registry.store).release(canary.LEASE, "ctl-a")
    done = _tick(other, 31)
    assert done and done[0]["outcome"] == "step 2"


def test_a_failed_scrape_holds_the_rollout_instead_of_crashing(registry: Registry) -> None:
    from modelyard.core.errors import ModelyardError

    _, cand = _two(registry)
    rid = canary.start(registry, cand.ref, "wine", POLICY)

    class Down:
        def snapshot(self, endpoint: str) -> Snapshot:
            raise ModelyardError("cannot scrape http://127.0.0.1:9/metrics: connection refused")

    (done,) = canary.Controller(registry, Down(), owner="ctl-a").tick(T0)
    assert done["outcome"] == "hold" and "no signal" in done["reasons"][0]
    assert RolloutStore(registry.store).get(rid).status == "running"
