"""Exported alert rules evaluated by a real Prometheus (Debian's package) that scrapes a running
``modelyard serve`` and the monitor's signal collector: the rules fire on real traffic."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from modelyard.core.project import ProjectConfig
from modelyard.packaging.prometheus_rules import alert_rules, prometheus_rule_resource
from modelyard.registry.registry import Registry
from tests.support.servers import MODELYARD, Children, free_port, wait_ready
from tests.support.system_tools import require_program

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
PROJECT = """\
identity: os
name: prom
models:
  arrests:
    sla: {latency_p99_ms: 250, availability: 0.99}
endpoints:
  arrests:
    prediction_log: {enabled: false}
monitoring:
  window_s: 2
  alerts:
    - {name: high-error-rate, signal: error_rate, threshold: 0.05, tier: critical,
       min_requests: 5}
    - {name: slow, signal: latency.p99_ms, threshold: sla}
    - {name: drifting, signal: drift.share, threshold: 0.3, sustain: 2, min_requests: 10}
    - {name: quiet, signal: requests, op: "<", threshold: 1, endpoints: [arrests]}
"""


def _prometheus() -> tuple[str, str]:
    """Paths of prometheus and promtool (Debian's package, installed by system_deps.sh)."""
    env_var = "MODELYARD_REQUIRE_PROMETHEUS"
    return (
        require_program("/usr/bin/prometheus", "prometheus", env_var),
        require_program("/usr/bin/promtool", "prometheus", env_var),
    )


# ---- the rules themselves (fast) ----------------------------------------------------------
def test_rules_map_signals_to_promql_with_for_from_sustain_and_sla_thresholds() -> None:
    config = ProjectConfig.model_validate(yaml.safe_load(PROJECT))
    doc = alert_rules(config, {"arrests": "arrests"}, min_range_s=4)
    rules = {r["alert"]: r for r in doc["groups"][0]["rules"]}
    assert set(rules) == {
        "ModelyardHighErrorRate",
        "ModelyardSlowArrests",
        "ModelyardDrifting",
        "ModelyardQuiet",
    }
    err = rules["ModelyardHighErrorRate"]
    assert 'modelyard_requests_total{status=~"5.."}[4s]' in err["expr"]
    assert err["expr"].count(">= 5") == 1 and "> 0.05" in err["expr"]
    assert err["for"] == "2s" and err["labels"]["tier"] == "critical"
    assert err["labels"]["severity"] == "critical"
    slow = rules["ModelyardSlowArrests"]
    assert "histogram_quantile(0.99" in slow["expr"] and "> 250" in slow["expr"]
    assert 'endpoint="arrests"' in slow["expr"]
    drift = rules["ModelyardDrifting"]
    assert 'modelyard_monitor_signal{signal="drift.share"} > 0.3' in drift["expr"]
    assert drift["for"] == "4s" and drift["labels"]["severity"] == "warning"
    assert "< 1" in rules["ModelyardQuiet"]["expr"] and "* 0.5" in rules["ModelyardQuiet"]["expr"]
    cr = prometheus_rule_resource(doc, "prom-alerts", "ml")
    assert cr["kind"] == "PrometheusRule" and cr["metadata"]["namespace"] == "ml"
    assert cr["spec"]["groups"] == doc["groups"]


def test_sla_threshold_of_an_endpoint_without_a_model_uses_the_default_sla() -> None:
    config = ProjectConfig.model_validate(yaml.safe_load(PROJECT))
    (rule,) = [
        r for r in alert_rules(config, {})["groups"][0]["rules"] if r["labels"]["rule"] == "slow"
    ]
    assert "> 100" in rule["expr"]  # SLA default: p99 100 ms


# ---- a real Prometheus ---------------------------------------------------------------------
@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from modelyard.demo.data import arrests
    from modelyard.demo.training import fit
    from modelyard.gates.retrain import TrainingInputs
    from modelyard.monitoring.exporter import serve_metrics
    from tests.support.flaky_model import FailsOnSomeRows

    prometheus, promtool = _prometheus()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "modelyard.yaml").write_text(PROJECT)
    df = pd.DataFrame(arrests())
    env = {"MODELYARD_USER": "ops"}
    reg = Registry.init(proj, env=env, identity="os")
    good = fit(TrainingInputs({"train": df}, {}, {}, 0))
    sample = df[FEATURES][df["age"] % 3 != 0].head(10)
    mv = reg.register_model(FailsOnSomeRows(good), "arrests", sample, trust=True)
    reg.transition(mv, "validated", reason="gates")
    reg.transition(mv, "approved", reason="review")
    reg.deploy(mv, "arrests", reason="release")

    children = Children(env)

    def start(cmd: list[str], name: str) -> subprocess.Popen[bytes]:
        return children.start(cmd, tmp_path / f"{name}.log")

    port = free_port()
    server = start([MODELYARD, "serve", "--port", str(port), "-p", str(proj)], "serve")
    signals_port = free_port()
    http, _thread = serve_metrics(reg, signals_port)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, log=tmp_path / "serve.log")
        rules = tmp_path / "rules.yml"
        subprocess.run(
            [
                MODELYARD,
                "export",
                "prometheus-rules",
                *["-o", str(rules), "-p", str(proj)],
                "--min-range",
                "4s",
            ],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        prom_port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": "modelyard", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
                {
                    "job_name": "modelyard-monitor",
                    "static_configs": [{"targets": [f"127.0.0.1:{signals_port}"]}],
                },
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom = start(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            "prometheus",
        )
        base = f"http://127.0.0.1:{prom_port}"
        deadline = time.monotonic() + 60
        while True:
            assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus was not ready in 60 s"
            time.sleep(0.3)
        yield {
            "reg": reg,
            "serve": f"http://127.0.0.1:{port}",
            "prometheus": base,
            "promtool": promtool,
            "rules": rules,
            "df": df,
            "version_id": mv.id,
        }
    finally:
        http.shutdown()
        http.server_close()
        children.stop()
        reg.close()


def _firing(base: str) -> dict[str, dict[str, str]]:
    alerts = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {a["labels"]["alertname"]: a["labels"] for a in alerts if a["state"] == "firing"}


@pytest.mark.slow
def test_prometheus_fires_exported_rules_on_live_errors_and_monitor_signals(
    stack: dict[str, Any],
) -> None:
    import datetime as dt

    from modelyard.store.windows import WindowStore

    check = subprocess.run(
        [stack["promtool"], "check", "rules", str(stack["rules"])],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 4 rules found" in check.stdout

    # the monitor judged a window in which half the features drifted
    end = dt.datetime.now(dt.UTC)
    WindowStore(stack["reg"].store).put_result(
        "arrests",
        stack["version_id"],
        end - dt.timedelta(seconds=2),
        end,
        120,
        {"signals": {"drift.share": 0.5, "requests": 120, "drift": {"count": 3}}},
    )
    df = stack["df"]
    rows = df[FEATURES].head(60).to_dict("records")
    firing: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + 90
    with httpx.Client(base_url=stack["serve"], timeout=10) as client:
        while time.monotonic() < deadline:
            for row in rows[:20]:  # a third of these ages are divisible by 3: a 500
                client.post("/v1/models/arrests:predict", json={"instances": [row]})
            firing = _firing(stack["prometheus"])
            if {"ModelyardHighErrorRate", "ModelyardDrifting"} <= set(firing):
                break
            time.sleep(0.5)
    assert "ModelyardHighErrorRate" in firing, firing
    labels = firing["ModelyardHighErrorRate"]
    assert labels["endpoint"] == "arrests" and labels["version"] == "arrests@1"
    assert labels["tier"] == "critical" and labels["severity"] == "critical"
    drift = firing["ModelyardDrifting"]
    assert drift["signal"] == "drift.share" and drift["version"] == "arrests@1"
    assert "ModelyardQuiet" not in firing  # traffic flows
