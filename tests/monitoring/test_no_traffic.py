"""Gaps: an idle endpoint raises its own ``no_traffic`` alert (a gap is not a clear window, so an
open alert stays open meanwhile), both resolve once traffic is back; the lookback is a setting."""

from __future__ import annotations

import pytest

from modelyard.core.monitor_config import AlertRule
from modelyard.monitoring.evaluate import Monitor
from modelyard.registry.registry import Registry
from modelyard.store.alerts import AlertStore
from tests.monitoring.test_monitor_judging import WIDTH, at, reopen, split_years, train, window

RULES = """\
  alerts:
    - {name: errors, signal: error_rate, threshold: 0.1, sustain: 1, recover: 2}
    - {name: idle, signal: no_traffic, op: ">=", threshold: 1, sustain: 3, recover: 1}
"""
SETTLE_S = 5 + 10  # grace_s + interval_s (defaults)


def after(i: int) -> float:
    """The monitor's clock once window ``i`` has closed and settled."""
    return (at(i) + WIDTH).timestamp() + SETTLE_S


def test_an_idle_endpoint_fires_no_traffic_and_keeps_other_alerts_open(
    local_registry: Registry,
) -> None:
    tr, held, _ = split_years()
    reg = reopen(local_registry, RULES)
    mv, model = train(reg, tr)
    monitor = Monitor(reg)
    window(reg, mv, model, held.iloc[:100], at(0), errors=20)
    assert [(e.rule, e.event) for e in monitor.tick(after(0))] == [("errors", "fired")]
    # nobody calls for windows 1-4: the third gap fires "idle"; "errors" is neither cleared
    assert monitor.tick(after(2)) == []
    (fired,) = monitor.tick(after(4))
    assert (fired.rule, fired.event, fired.window_start) == ("idle", "fired", at(3))
    store = AlertStore(reg.store)
    assert sorted(a.rule for a in store.find(("firing",))) == ["errors", "idle"]
    (idle,) = [a for a in store.find(("firing",)) if a.rule == "idle"]
    assert idle.details["window_start"] == at(4).isoformat()  # the latest gap counted
    assert idle.details["requests"] == 0 and idle.details["version"] is None
    # traffic is back, clean: idle resolves at once, errors after two clear windows
    window(reg, mv, model, held.iloc[100:200], at(5))
    assert [(e.rule, e.event) for e in monitor.tick(after(5))] == [("idle", "resolved")]
    window(reg, mv, model, held.iloc[200:300], at(6))
    assert [(e.rule, e.event) for e in monitor.tick(after(6))] == [("errors", "resolved")]
    assert store.find(("firing",)) == []
    reg.close()


def test_no_traffic_is_judged_whatever_min_requests_and_is_a_known_signal() -> None:
    rule = AlertRule(name="idle", signal="no_traffic", op=">=", threshold=1, min_requests=30)
    assert rule.min_requests == 30  # gap views have 0 requests: the signal ignores the floor
    with pytest.raises(ValueError, match="no_traffic"):
        AlertRule(name="bad", signal="no_trafic", threshold=1)


def test_the_lookback_is_a_setting(local_registry: Registry) -> None:
    tr, held, _ = split_years()
    reg = reopen(local_registry, "  lookback_s: 600\n")
    mv, model = train(reg, tr)
    window(reg, mv, model, held.iloc[:50], at(0))
    later = after(0) + 3600
    assert reg.config.monitoring.lookback_s == 600
    monitor = Monitor(reg)
    monitor.tick(later)
    assert monitor.judged == 0  # an hour old: outside a 10-minute lookback
    wide = Monitor(reg, lookback_s=2 * 3600)
    wide.tick(later)
    assert wide.judged == 1
    reg.close()
