"""Reads the adapters get through the monitoring services: open alerts on a set of endpoints
(typed rows, oldest first), the endpoints with verdicts, the leader lease and the action log."""

from __future__ import annotations

import datetime as dt

from modelyard.core.operations_records import ActionRecord
from modelyard.monitoring.action_log import actions_with_alerts, last_runs
from modelyard.monitoring.leader import Lease, lease_holder
from modelyard.monitoring.verdicts import monitored_endpoints
from modelyard.registry.registry import Registry
from modelyard.store.alerts import AlertStore, OpenAlert
from modelyard.store.playbooks import PlaybookStore
from tests.support.alerts import insert_alert

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _alert(reg: Registry, endpoint: str, rule: str, state: str, hours: int) -> None:
    insert_alert(reg, endpoint, rule, state, T0 + dt.timedelta(hours=hours))


def test_open_alerts_on_some_endpoints_are_typed_rows_oldest_first(registry: Registry) -> None:
    _alert(registry, "a", "drift", "firing", 0)
    _alert(registry, "b", "errors", "acknowledged", 1)
    _alert(registry, "a", "latency", "resolved", 2)
    _alert(registry, "c", "drift", "firing", 3)
    found = AlertStore(registry.store).open_on({"a", "b"})
    assert [(a.endpoint, a.rule, a.state) for a in found] == [
        ("a", "drift", "firing"),
        ("b", "errors", "acknowledged"),
    ]
    assert isinstance(found[0], OpenAlert) and found[0].started_at == T0
    assert AlertStore(registry.store).open_on([]) == []


def test_without_routes_or_verdicts_no_endpoint_is_monitored(registry: Registry) -> None:
    assert monitored_endpoints(registry) == []


def test_one_owner_holds_the_lease_until_it_releases_it(registry: Registry) -> None:
    first, second = (Lease(registry, "monitor", who, 60.0) for who in ("one", "two"))
    assert first.hold() and not second.hold()
    assert first.hold()  # renewing
    holder = lease_holder(registry, "monitor")
    assert holder is not None and holder.owner == "one"
    first.release()
    assert lease_holder(registry, "monitor") is None and second.hold()


def test_actions_come_newest_first_with_the_alert_behind_each(registry: Registry) -> None:
    _alert(registry, "a", "drift", "firing", 0)
    [alert] = AlertStore(registry.store).open_on(["a"])
    store = PlaybookStore(registry.store)
    for action, alert_id in (("notify", alert.id), ("retrain", None)):
        store.record(
            playbook="on-drift",
            endpoint="a",
            action=action,
            status="done",
            dry_run=False,
            alert_id=alert_id,
            details={},
            actor="playbook",
            reason="drift",
        )
    newest, oldest = actions_with_alerts(registry, "a")
    assert newest["action"] == "retrain" and newest["alert"] is None  # no alert behind it
    assert oldest["alert"]["id"] == alert.id
    assert last_runs(registry, ["on-drift", "never"]) == {
        "on-drift": ActionRecord.from_row(newest),
        "never": None,
    }
