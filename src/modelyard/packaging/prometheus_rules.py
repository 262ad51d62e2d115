"""The project's alert rules as Prometheus alerting rules (or a PrometheusRule resource).

Each ``monitoring.alerts`` rule becomes one alert (one per endpoint when its threshold is
``sla``, since each endpoint's model has its own SLA). Serving signals read the server's own
metrics; everything the monitor computes reads the ``modelyard_monitor_signal`` gauge that
``monitoring.exporter.SignalCollector`` exposes:

=====================  ===============================================================
signal                 PromQL (over ``R`` = max(window_s, min_range_s))
=====================  ===============================================================
``error_rate``         5xx share of ``modelyard_requests_total`` per endpoint, version
``latency.p99_ms``     ``histogram_quantile(0.99, …modelyard_request_duration_seconds_bucket…)``
                       in ms (``latency.p50_ms`` likewise)
``requests``           ``increase(modelyard_requests_total[R])`` scaled to one window
anything else          ``modelyard_monitor_signal{signal="…"}``
=====================  ===============================================================

``min_requests`` becomes an ``and`` on the traffic of the same range (the monitor's own
``requests`` signal for monitor signals); ``for:`` is ``sustain`` x ``window_s``; labels carry
the ``tier``, a ``severity`` (warning, critical; emergency pages as critical) and the rule name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from modelyard.core.errors import InvalidInput
from modelyard.core.monitor_config import AlertRule
from modelyard.core.project import ProjectConfig

REQUESTS = "modelyard_requests_total"
LATENCY = "modelyard_request_duration_seconds_bucket"
SIGNAL = "modelyard_monitor_signal"
SEVERITY = {"warning": "warning", "critical": "critical", "emergency": "critical"}
FORMATS = ("rules", "operator")
FAILED = 'status=~"5.."'  # server-side failures (a model error is a 500)


def duration(seconds: float) -> str:
    """A Prometheus duration: whole seconds (``90s``), ``0s`` at least."""
    return f"{max(0, round(seconds))}s"


def alert_name(rule: str) -> str:
    """``high-error-rate`` → ``ModelyardHighErrorRate`` (a valid Prometheus alert name)."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", rule) if p]
    return "Modelyard" + "".join(p[:1].upper() + p[1:] for p in parts)


def _selector(endpoints: Iterable[str]) -> str:
    names = sorted(set(endpoints))
    if not names:
        return ""
    if len(names) == 1:
        return f'endpoint="{names[0]}"'
    return 'endpoint=~"' + "|".join(re.escape(n) for n in names) + '"'


def _join(*matchers: str) -> str:
    return "{" + ",".join(m for m in matchers if m) + "}"


def sla_threshold(config: ProjectConfig, signal: str, model: str | None) -> float:
    sla = config.model(model or "").sla
    if signal == "latency.p99_ms":
        return sla.latency_p99_ms
    if signal == "error_rate":
        return round(1.0 - sla.availability, 12)
    raise InvalidInput(f"threshold 'sla' does not apply to {signal!r}")


def promql(
    rule: AlertRule, selector: str, threshold: float, range_s: float, window_s: float
) -> str:
    """The PromQL expression that is non-empty while ``rule`` is breached."""
    r = duration(range_s)
    by = "sum by (endpoint, version)"
    traffic = f"{by} (increase({REQUESTS}{_join(selector)}[{r}]))"
    enough = f" and {traffic} >= {rule.min_requests}" if rule.min_requests else ""
    cmp = f"{rule.op} {threshold:g}"
    if rule.signal == "error_rate":
        failed = _join(selector, FAILED)
        errors = f"{by} (rate({REQUESTS}{failed}[{r}]))"
        total = f"{by} (rate({REQUESTS}{_join(selector)}[{r}]))"
        return f"({errors} / {total}) {cmp}{enough}"
    if rule.signal in ("latency.p99_ms", "latency.p50_ms"):
        q = "0.99" if rule.signal == "latency.p99_ms" else "0.5"
        rate = f"sum by (endpoint, version, le) (rate({LATENCY}{_join(selector)}[{r}]))"
        return f"(histogram_quantile({q}, {rate}) * 1000) {cmp}{enough}"
    if rule.signal == "requests":
        scale = "" if range_s == window_s else f" * {window_s / range_s:g}"
        return f"({traffic}{scale}) {cmp}"
    signal = 'signal="' + rule.signal + '"'
    value = f"{SIGNAL}{_join(selector, signal)}"
    if not rule.min_requests:
        return f"{value} {cmp}"
    seen = SIGNAL + _join(selector, 'signal="requests"')
    return f"{value} {cmp} and on (endpoint, version) {seen} >= {rule.min_requests}"


def _alert(
    rule: AlertRule, expr: str, window_s: float, endpoint: str | None = None
) -> dict[str, Any]:
    name = alert_name(rule.name)
    return {
        "alert": name if endpoint is None else alert_name(f"{rule.name}-{endpoint}"),
        "expr": expr,
        "for": duration(rule.sustain * window_s),
        "labels": {
            "severity": SEVERITY[rule.tier],
            "tier": rule.tier,
            "rule": rule.name,
            "source": "modelyard",
        },
        "annotations": {
            "summary": f"{rule.name}: {rule.signal} {rule.op} threshold on "
            "{{ $labels.endpoint }} ({{ $labels.version }})",
            "description": f"modelyard rule {rule.name} ({rule.tier}): {rule.signal} is "
            "{{ $value }}",
        },
    }


def alert_rules(
    config: ProjectConfig,
    endpoint_models: Mapping[str, str] | None = None,
    *,
    min_range_s: float = 60.0,
    group: str = "modelyard",
) -> dict[str, Any]:
    """A Prometheus rules file (``{"groups": [...]}``) for the project's alert rules.

    ``endpoint_models`` maps endpoints to the model they serve (for ``sla`` thresholds; an
    endpoint without one uses the default SLA). ``min_range_s`` is the shortest range a rate
    is taken over (at least four scrape intervals)."""
    if min_range_s <= 0:
        raise InvalidInput(f"min_range_s must be > 0, got {min_range_s}")
    endpoint_models = dict(endpoint_models or {})
    window_s = config.monitoring.window_s
    range_s = max(window_s, min_range_s)
    rules: list[dict[str, Any]] = []
    for rule in config.monitoring.alerts:
        if rule.threshold == "sla":
            targets = rule.endpoints or tuple(sorted(set(config.endpoints) | set(endpoint_models)))
            if not targets:
                raise InvalidInput(
                    f"alert rule {rule.name!r} uses threshold 'sla' but the project has no "
                    "endpoints to take an SLA from",
                    hint="declare the endpoint under endpoints: or list it in the rule",
                )
            for endpoint in targets:
                limit = sla_threshold(config, rule.signal, endpoint_models.get(endpoint))
                expr = promql(rule, _selector([endpoint]), limit, range_s, window_s)
                rules.append(_alert(rule, expr, window_s, endpoint))
            continue
        expr = promql(rule, _selector(rule.endpoints), float(rule.threshold), range_s, window_s)
        rules.append(_alert(rule, expr, window_s))
    return {"groups": [{"name": group, "rules": rules}]}


def prometheus_rule_resource(
    rules: Mapping[str, Any], name: str, namespace: str | None = None
) -> dict[str, Any]:
    """The same rules as a Prometheus Operator ``PrometheusRule`` custom resource."""
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/part-of": "modelyard", "role": "alert-rules"},
    }
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta,
        "spec": {"groups": list(rules["groups"])},
    }
