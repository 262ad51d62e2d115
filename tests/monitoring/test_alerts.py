"""Tiered alerts: sustain and recovery counted per window and kept across restarts, the states
of a firing episode (acknowledge and resolve audited), sinks with retries and dead letters, and
the ``modelyard alerts`` / ``modelyard monitor run|status`` commands."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.core.errors import Conflict, NotFound
from modelyard.core.webhooks import WebhooksConfig, redact_url
from modelyard.monitoring.alerts import AlertBook, AlertEvent
from modelyard.monitoring.delivery import backoff_s
from modelyard.monitoring.evaluate import Monitor
from modelyard.monitoring.sinks import Dispatcher, LogSink, WebhookSink
from modelyard.registry.registry import Registry
from modelyard.store.alerts import AlertStore
from tests.monitoring.test_monitor_judging import (
    NOW,
    at,
    clock,
    reopen,
    split_years,
    train,
    window,
)
from tests.support.servers import free_port

ERROR_RULE = """\
  alerts:
    - {name: errors, signal: error_rate, op: ">", threshold: 0.1, tier: critical,
       sustain: 3, recover: 2, min_requests: 30}
"""
SLA_RULE = """\
  alerts:
    - {name: slow, signal: latency.p99_ms, threshold: sla, tier: emergency, sustain: 1}
"""
runner = CliRunner()


def _setup(base: Registry) -> tuple[Registry, Any, Any, Any]:
    tr, held, _ = split_years()
    reg = reopen(base, ERROR_RULE)
    mv, model = train(reg, tr)
    return reg, mv, model, held


@pytest.fixture
def setup(registry: Registry) -> Iterator[tuple[Registry, Any, Any, Any]]:
    """On SQLite and PostgreSQL: where what is stored matters."""
    out = _setup(registry)
    yield out
    out[0].close()


@pytest.fixture
def local_setup(local_registry: Registry) -> Iterator[tuple[Registry, Any, Any, Any]]:
    """On SQLite only: where the logic, not the store, is under test."""
    out = _setup(local_registry)
    yield out
    out[0].close()


class Traffic:
    """Feeds one window per call (100 requests; ``bad``: 20 % errors) and ticks the monitor."""

    def __init__(self, reg: Registry, mv: Any, model: Any, rows: Any, base: Any = None) -> None:
        self.reg, self.mv, self.model, self.rows = reg, mv, model, rows
        self.base = base or at(0)
        self.i = 0

    def window(self, bad: bool, requests: int = 100) -> None:
        rows = self.rows.iloc[(self.i * 7) % 400 :][:requests]
        errors = requests // 5 if bad else 0
        start = self.base + self.i * (at(1) - at(0))
        window(self.reg, self.mv, self.model, rows, start, errors=errors)
        self.i += 1

    def step(self, monitor: Monitor, bad: bool, requests: int = 100) -> list[str]:
        self.window(bad, requests)
        return [e.event for e in monitor.tick(NOW)]


def _pattern(traffic: Traffic, monitor: Monitor, pattern: str) -> list[list[str]]:
    return [traffic.step(monitor, c == "B") for c in pattern]


# ---- sustain, recovery, restarts ------------------------------------------------------------
def test_sustain_three_fires_on_the_third_breaching_window_and_recover_two_resolves(
    setup: Any,
) -> None:
    reg, mv, model, held = setup
    traffic = Traffic(reg, mv, model, held)
    monitor = Monitor(reg, clock=clock())
    assert _pattern(traffic, monitor, "BB") == [[], []]
    assert traffic.step(monitor, bad=True) == ["fired"]
    (alert,) = AlertStore(reg.store).find(("firing",))
    assert alert.rule == "errors" and alert.tier == "critical"
    assert alert.value == pytest.approx(0.2)
    assert alert.details["threshold"] == 0.1
    assert alert.details["window_start"] == at(2).isoformat()
    # still breaching, then alternating: the episode neither resolves nor fires again
    assert _pattern(traffic, monitor, "BCBCB") == [[]] * 5
    assert traffic.step(monitor, bad=False) == []
    assert traffic.step(monitor, bad=False) == ["resolved"]  # second consecutive clear window
    assert AlertStore(reg.store).find(("resolved",))[0].id == alert.id
    # alternating breaches never reach three in a row: no new episode
    assert _pattern(traffic, monitor, "BCBCBC") == [[]] * 6
    assert len(AlertStore(reg.store).find()) == 1


def test_windows_under_min_requests_neither_breach_nor_clear(local_setup: Any) -> None:
    reg, mv, model, held = local_setup
    traffic = Traffic(reg, mv, model, held)
    monitor = Monitor(reg, clock=clock())
    assert _pattern(traffic, monitor, "BB") == [[], []]
    assert traffic.step(monitor, bad=True, requests=20) == []  # 20 < min_requests 30
    assert traffic.step(monitor, bad=False, requests=20) == []  # does not reset either
    assert traffic.step(monitor, bad=True) == ["fired"]


def test_a_restarted_monitor_keeps_the_counters_and_counts_a_rejudged_window_once(
    setup: Any,
) -> None:
    reg, mv, model, held = setup
    traffic = Traffic(reg, mv, model, held)
    assert _pattern(traffic, Monitor(reg, clock=clock()), "BB") == [[], []]
    (state,) = AlertStore(reg.store).states()
    assert (state.breaches, state.clears, state.last_start) == (2, 0, at(1))

    # a late replica adds rows to the second window: it is re-judged, not counted again
    window(reg, mv, model, held.iloc[:50], at(1), replica="pod-late", errors=10)
    with reopen(reg, ERROR_RULE) as again:  # a new process: new registry, new monitor
        restarted = Monitor(again, clock=clock())
        assert restarted.tick(NOW) == []
        assert restarted.judged == 1
        assert AlertStore(again.store).states()[0].breaches == 2
        traffic.reg = again
        assert traffic.step(restarted, bad=True) == ["fired"]


def test_threshold_sla_reads_the_models_sla(local_registry: Registry) -> None:
    tr, held, _ = split_years()
    reg = reopen(local_registry, SLA_RULE)
    mv, model = train(reg, tr)
    window(reg, mv, model, held.iloc[:100], at(0), latency_ms=30.0)  # within 50 ms
    window(reg, mv, model, held.iloc[:100], at(1), latency_ms=90.0)
    events = Monitor(reg, clock=clock()).tick()
    assert [(e.event, e.rule, e.tier, e.threshold) for e in events] == [
        ("fired", "slow", "emergency", 50.0)
    ]
    assert events[0].value is not None and events[0].value > 50
    assert events[0].window_start == at(1)
    reg.close()


# ---- acknowledge and resolve -----------------------------------------------------------------
def _fire(setup: Any) -> tuple[Registry, Traffic, Monitor, int]:
    reg, mv, model, held = setup
    traffic = Traffic(reg, mv, model, held)
    monitor = Monitor(reg, clock=clock())
    assert _pattern(traffic, monitor, "BBB")[-1] == ["fired"]
    return reg, traffic, monitor, AlertStore(reg.store).find(("firing",))[0].id


def test_an_acknowledged_alert_stays_open_until_recovery_and_the_ack_is_audited(
    setup: Any,
) -> None:
    reg, traffic, monitor, alert_id = _fire(setup)
    book = AlertBook(reg.store)
    event = book.acknowledge(alert_id, "carol", "upstream feed is late, on it")
    assert event.event == "acknowledged" and event.alert_id == alert_id
    row = AlertStore(reg.store).get(alert_id)
    assert (row.state, row.acknowledged_by) == ("acknowledged", "carol")
    (entry,) = reg.store.chain.entries(action="alert.acknowledge")
    assert (entry.actor, entry.reason) == ("carol", "upstream feed is late, on it")
    assert entry.data["alert"] == alert_id and entry.target == "endpoint:arrests"
    with pytest.raises(Conflict, match="acknowledged"):
        book.acknowledge(alert_id, "carol", "again")
    assert _pattern(traffic, monitor, "BC") == [[], []]
    assert AlertStore(reg.store).get(alert_id).state == "acknowledged"
    assert traffic.step(monitor, bad=False) == ["resolved"]
    assert AlertStore(reg.store).get(alert_id).state == "resolved"


def test_resolving_by_hand_is_audited_and_the_rule_counts_afresh(setup: Any) -> None:
    reg, traffic, monitor, alert_id = _fire(setup)
    book = AlertBook(reg.store)
    event = book.resolve(alert_id, "dave", "false alarm: load test traffic")
    assert event.event == "resolved"
    row = AlertStore(reg.store).get(alert_id)
    assert row.state == "resolved" and row.details["resolved_by"] == "dave"
    (entry,) = reg.store.chain.entries(action="alert.resolve")
    assert (entry.actor, entry.reason) == ("dave", "false alarm: load test traffic")
    with pytest.raises(Conflict, match="already resolved"):
        book.resolve(alert_id, "dave", "again")
    with pytest.raises(NotFound, match="no alert #999"):
        book.resolve(999, "dave", "nothing")
    # still breaching: a new episode after three more breaching windows
    assert _pattern(traffic, monitor, "BBB") == [[], [], ["fired"]]
    assert len(AlertStore(reg.store).find(("firing",))) == 1


# ---- sinks -------------------------------------------------------------------------------
# the test receiver listens on 127.0.0.1: an internal address, so the sinks opt in explicitly
LOCAL_RECEIVER = WebhooksConfig(allow=("127.0.0.1",))


class Hook:
    """A real HTTP endpoint on 127.0.0.1 that fails the first ``fail`` POSTs with 503."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(json.loads(body))
                code = 503 if len(hook.bodies) <= hook.fail else 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _event(alert_id: int, tier: str = "critical") -> AlertEvent:
    return AlertEvent(alert_id, "fired", "arrests", "errors", tier, 0.2, 0.1, "error_rate up",
                      at(2), "error_rate")  # fmt: skip


@pytest.fixture
def fired(setup: Any) -> tuple[Registry, int]:
    reg, _, _, alert_id = _fire(setup)
    return reg, alert_id


@pytest.fixture
def fired_local(local_setup: Any) -> tuple[Registry, int]:
    reg, _, _, alert_id = _fire(local_setup)
    return reg, alert_id


def test_a_webhook_that_fails_twice_gets_the_event_on_the_third_attempt(fired: Any) -> None:
    reg, alert_id = fired
    waits: list[float] = []
    with Hook(fail=2) as hook:
        sink = WebhookSink(hook.url, timeout_s=2, retries=3, policy=LOCAL_RECEIVER)
        out = Dispatcher(reg.store, [sink], backoff_base_s=0.5, sleep=waits.append).deliver(
            [_event(alert_id)]
        )
    assert out == {"delivered": 1, "dead": 0}
    assert len(hook.bodies) == 3
    assert hook.bodies[-1]["alert"] == _event(alert_id).to_dict()
    assert waits == [0.5, 1.0]  # exponential backoff between the attempts
    rows = AlertStore(reg.store).deliveries(alert_id=alert_id)[::-1]
    assert [(r.status, r.attempts) for r in rows] == [
        ("failed", 1),
        ("failed", 2),
        ("delivered", 3),
    ]
    assert "503" in (rows[0].error or "") and rows[-1].sink == f"webhook:{redact_url(hook.url)}"


def test_a_webhook_that_always_fails_leaves_one_dead_letter_and_the_monitor_goes_on(
    fired: Any,
) -> None:
    reg, alert_id = fired
    waits: list[float] = []
    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with Hook(fail=100) as hook:
        sinks = [
            WebhookSink(hook.url, retries=2, policy=LOCAL_RECEIVER),
            WebhookSink(closed, timeout_s=1, retries=0, policy=LOCAL_RECEIVER),
        ]
        out = Dispatcher(reg.store, sinks, sleep=waits.append).deliver([_event(alert_id)])
    assert out == {"delivered": 0, "dead": 2}
    assert len(hook.bodies) == 3
    dead = AlertStore(reg.store).deliveries(status="dead")
    assert sorted((d.sink, d.attempts) for d in dead) == sorted(
        [(f"webhook:{redact_url(hook.url)}", 3), (f"webhook:{redact_url(closed)}", 1)]
    )
    assert all(d.payload["alert_id"] == alert_id for d in dead)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(i, 0.5, 3.0) for i in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_the_log_sink_writes_one_json_record_per_event_and_sinks_filter_by_tier(
    fired_local: Any, caplog: pytest.LogCaptureFixture
) -> None:
    reg, alert_id = fired_local
    sinks = [LogSink("warning"), LogSink("emergency")]
    with caplog.at_level(logging.INFO, logger="modelyard.alerts"):
        out = Dispatcher(reg.store, sinks).deliver([_event(alert_id, "critical")])
    assert out == {"delivered": 1, "dead": 0}  # the emergency-only sink skipped it
    (record,) = [r for r in caplog.records if r.name == "modelyard.alerts"]
    assert json.loads(record.getMessage())["alert"] == _event(alert_id, "critical").to_dict()


# ---- the commands ----------------------------------------------------------------------------
def _cli(reg: Registry, *args: str) -> Any:
    env = {"MODELYARD_STORE_URL": reg.settings.store_url, "MODELYARD_USER": "erin"}
    return runner.invoke(app, [*args, "-p", str(reg.settings.project_dir)], env=env)


def test_alerts_commands_list_ack_resolve_and_deliveries(fired_local: Any) -> None:
    reg, alert_id = fired_local
    res = _cli(reg, "alerts", "list", "--json")
    assert res.exit_code == 0, res.output
    assert [a["id"] for a in json.loads(res.output)] == [alert_id]
    res = _cli(reg, "alerts", "ack", str(alert_id), "--reason", "mine now")
    assert res.exit_code == 0, res.output
    assert "acknowledged" in res.output
    assert reg.store.chain.entries(action="alert.acknowledge")[0].actor == "erin"
    res = _cli(reg, "alerts", "list", "--state", "firing", "--json")
    assert json.loads(res.output) == []
    res = _cli(reg, "alerts", "resolve", str(alert_id), "--reason", "fixed", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["state"] == "resolved"
    res = _cli(reg, "alerts", "list", "--state", "all")
    assert res.exit_code == 0 and "errors" in res.output
    # the default log sink got the acknowledge and resolve events
    res = _cli(reg, "alerts", "deliveries", "--json")
    assert [d["event"] for d in json.loads(res.output)] == ["resolved", "acknowledged"]
    res = _cli(reg, "alerts", "deliveries", "--dead", "--json")
    assert json.loads(res.output) == []


def test_alerts_commands_refuse_bad_input_with_a_clear_message(local_registry: Registry) -> None:
    from modelyard.core.errors import InvalidInput

    reg = local_registry
    project = str(reg.settings.project_dir)
    # through the console script: the exit code and message, never a traceback
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("modelyard")), "alerts", "ack", "999", "--reason",
         "x", "-p", project],
        capture_output=True, text=True, env={**os.environ}, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "no alert #999" in proc.stderr and "Traceback" not in proc.stderr
    # in process: the typed errors the entry point maps to exit codes (2: bad input)
    for args, error, message in [
        (["alerts", "resolve", "999", "--reason", "x"], NotFound, "no alert #999"),
        (["alerts", "list", "--state", "burning"], InvalidInput, "unknown alert state 'burning'"),
        (["alerts", "ack", "12", "--reason", "  "], InvalidInput, "--reason must not be empty"),
        (["monitor", "run", "--once", "--interval", "0"], InvalidInput, "--interval must be > 0"),
    ]:
        res = _cli(reg, *args)
        assert isinstance(res.exception, error), (args, res.output)
        assert message in str(res.exception)
    res = _cli(reg, "alerts", "ack", "twelve", "--reason", "x")
    assert res.exit_code == 2 and "valid integer" in res.output


def test_monitor_run_once_judges_alerts_and_status_shows_it(local_setup: Any) -> None:
    reg, mv, model, held = local_setup
    # the command runs on the real clock: windows of an hour ago
    hour_ago = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(hours=1)
    traffic = Traffic(reg, mv, model, held, base=hour_ago)
    for _ in range(3):
        traffic.window(bad=True)
    seen: list[list[AlertEvent]] = []
    from modelyard.cli import cmd_monitor

    cmd_monitor.ON_EVENTS.append(lambda r, events: seen.append(events))
    try:
        res = _cli(reg, "monitor", "run", "--once", "--json")
    finally:
        cmd_monitor.ON_EVENTS.clear()
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["leader"] is True and out["judged"] == 3
    assert [e["event"] for e in out["events"]] == ["fired"]
    assert [[e.event for e in events] for events in seen] == [["fired"]]
    res = _cli(reg, "monitor", "status", "--json")
    assert res.exit_code == 0, res.output
    status = json.loads(res.output)
    (w,) = status["windows"]
    assert (w["endpoint"], w["version"], w["requests"]) == ("arrests", mv.ref, 100)
    assert w["error_rate"] == pytest.approx(0.2)
    from modelyard.store.windows import WindowStore

    verdict = WindowStore(reg.store).results(endpoint="arrests")[-1].summary
    assert w["drifted"] == verdict["drift"]["drifted_features"]
    assert [a["rule"] for a in status["alerts"]] == ["errors"]
    assert status["leader"] is None  # the --once run handed its lease back
    res = _cli(reg, "monitor", "status")
    assert res.exit_code == 0 and "arrests" in res.output and "errors" in res.output


@pytest.mark.slow
def test_one_monitor_leads_others_stand_by_and_ctrl_c_hands_the_lease_back(
    registry: Registry, tmp_path: Path
) -> None:
    reg = registry
    env = {**os.environ, "MODELYARD_STORE_URL": reg.settings.store_url, "MODELYARD_USER": "m"}
    project = str(reg.settings.project_dir)
    cmd = [str(Path(sys.executable).with_name("modelyard")), "monitor", "run", "-p", project]
    log = tmp_path / "leader.log"
    with log.open("w") as out:
        leader = subprocess.Popen([*cmd, "--interval", "0.2"], stdout=out, stderr=out, env=env)
    try:
        deadline = time.monotonic() + 60
        while "leading" not in log.read_text():
            assert leader.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        other = subprocess.run(
            [*cmd, "--once"], capture_output=True, text=True, env=env, timeout=60
        )
        assert other.returncode == 0, other.stderr
        assert "another monitor holds the lease" in other.stdout
        leader.send_signal(signal.SIGINT)
        assert leader.wait(timeout=30) == 0, log.read_text()
    finally:
        if leader.poll() is None:
            leader.kill()
    assert "Traceback" not in log.read_text()
    assert "stopped" in log.read_text()
    from modelyard.store.rollouts import RolloutStore

    assert RolloutStore(reg.store).holder("monitor") is None, log.read_text()
