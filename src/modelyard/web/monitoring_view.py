"""What the dashboard's monitoring pages show, gathered through the services: the monitor's
verdict per window (``monitoring.verdicts``), alerts, playbook actions, rollouts, and the changes
that explain a moving line (route changes from the audit log, new versions of the datasets the
endpoint's models were trained on). Charts are drawn by ``modelyard.web.charts``.

When several versions serve an endpoint, drift, missingness and prediction charts follow the
version that served most requests in each window (the one an endpoint-level alert rule reads);
traffic, errors, latency and quality are drawn per version so a canary shows beside its champion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from modelyard.core.errors import NotFound
from modelyard.monitoring.action_log import actions_with_alerts
from modelyard.monitoring.alerts import AlertBook
from modelyard.monitoring.verdicts import feature_names, monitored_endpoints, verdicts
from modelyard.registry import queries
from modelyard.registry.registry import Registry
from modelyard.web.charts import Marker, Series, bar_chart, line_chart

MAX_FEATURE_CHARTS = 24
ROUTE_ACTIONS = ("endpoint.route", "endpoint.unroute")
Row = dict[str, Any]


# ---- gathering ------------------------------------------------------------------------------
class MonitoringView:
    """Reads for one page render (caches version refs across calls)."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.alerts = AlertBook.of(reg)
        self._refs: dict[int, str] = {}

    def ref(self, version_id: int) -> str:
        if version_id not in self._refs:
            row = queries.version_by_id(self.reg, version_id)
            self._refs[version_id] = f"{row.model_name}@{row.version}"
        return self._refs[version_id]

    def results(
        self, endpoint: str, since: dt.datetime | None = None, limit: int = 600
    ) -> list[Row]:
        """Verdicts of ``endpoint`` oldest first, each with ``signals``, ``ref`` and ``detail``."""
        rows = verdicts(self.reg, endpoint, since, limit)
        for row in rows:
            row["ref"] = self.ref(row["version_id"])
        return rows

    @staticmethod
    def primary(rows: list[Row]) -> list[Row]:
        """Per window start, the verdict of the version that served most requests."""
        best: dict[dt.datetime, Row] = {}
        for row in rows:
            old = best.get(row["start"])
            if old is None or row["requests"] > old["requests"]:
                best[row["start"]] = row
        return [best[k] for k in sorted(best)]

    # ---- what happened meanwhile -------------------------------------------------------
    def annotations(
        self, endpoint: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[dict[str, Any]]:
        """Route changes of the endpoint and new versions of its models' training datasets,
        oldest first, numbered (the numbers drawn on the charts)."""
        found: list[dict[str, Any]] = []
        models: set[str] = set()
        for e in queries.audit_entries(self.reg, f"endpoint:{endpoint}"):
            if e.target != f"endpoint:{endpoint}" or e.action not in ROUTE_ACTIONS:
                continue
            data = e.data or {}
            version = str(data.get("version") or "")
            models.add(version.split("@")[0])
            reason = str(e.reason or "")
            back = "rollback" in reason.lower() or "rolled back" in reason.lower()
            if e.action == "endpoint.unroute":
                text = f"{version} removed"
            else:
                weight = data.get("weight")
                share = f" {weight:.0%}" if isinstance(weight, int | float) else ""
                text = f"{version} {data.get('role', '')}{share}".strip()
            found.append(
                {
                    "at": e.at,
                    "kind": "rollback" if back else "deploy",
                    "text": text,
                    "detail": f"{e.actor}: {reason}" if reason else str(e.actor),
                }
            )
        for name in self._dataset_names(models - {""}):
            for d in self.reg.datasets(name):
                found.append(
                    {
                        "at": d.created_at,
                        "kind": "data",
                        "text": f"dataset {d.name}@{d.version} registered",
                        "detail": f"by {d.created_by}, {d.n_rows:,} rows",
                    }
                )
        found.sort(key=lambda a: a["at"])
        if start is not None and end is not None:
            found = [a for a in found if start <= a["at"] <= end]
        for i, a in enumerate(found, 1):
            a["n"] = i
        return found

    def _dataset_names(self, models: set[str]) -> list[str]:
        names: set[str] = set()
        for model in sorted(models):
            for mv in self.reg.model_versions(model):
                if mv.run_id:
                    names.update(d.dataset.name for d in queries.run_inputs(self.reg, mv.run_id))
        return sorted(names)

    # ---- alerts ------------------------------------------------------------------------------
    def firing_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in self.alerts.find("firing"):
            counts[a.endpoint] = counts.get(a.endpoint, 0) + 1
        return counts


# ---- charts -----------------------------------------------------------------------------------
def markers_of(annotations: Iterable[Mapping[str, Any]]) -> list[Marker]:
    return [
        Marker(
            a["at"],
            str(a["n"]),
            f"{a['n']}. {a['at']:%Y-%m-%d %H:%M} {a['text']} ({a['detail']})",
            a["kind"],
        )
        for a in annotations
    ]


def _by_version(rows: list[Row], signal: str, scale: float = 1.0) -> list[Series]:
    by: dict[str, list[tuple[dt.datetime, float | None]]] = {}
    for row in rows:
        value = row["signals"].get(signal)
        by.setdefault(row["ref"], []).append(
            (row["start"], None if value is None else value * scale)
        )
    return [Series(ref, pts) for ref, pts in sorted(by.items())]


def _line(rows: list[Row], signal: str, name: str, flag: str | None = None) -> Series:
    points = [(r["start"], r["signals"].get(signal)) for r in rows]
    flagged = [r["start"] for r in rows if flag and r["signals"].get(flag, 0.0) >= 1.0]
    return Series(name, points, flagged)


def _has(rows: list[Row], signal: str) -> bool:
    return any(signal in r["signals"] for r in rows)


def drift_charts(
    rows: list[Row], markers: list[Marker], reg: Registry
) -> tuple[list[dict[str, Any]], list[str]]:
    """Per-feature effect charts (drifted windows flagged, the deciding floor as threshold),
    most drifted first; and the overall drift charts (share, missingness, prediction)."""
    main = MonitoringView.primary(rows)
    floors = _floors(main, reg)
    features = []
    for name in feature_names(main):
        drifted = sum(1 for r in main if r["signals"].get(f"feature.{name}.drifted", 0.0) >= 1)
        peak = max((r["signals"].get(f"feature.{name}.effect", 0.0) for r in main), default=0.0)
        features.append((name, drifted, peak))
    features.sort(key=lambda f: (-f[1], -f[2], f[0]))
    small = []
    for name, drifted, _ in features[:MAX_FEATURE_CHARTS]:
        key = f"feature.{name}.effect"
        small.append(
            {
                "name": name,
                "drifted": drifted,
                "svg": line_chart(
                    key,
                    [_line(main, key, "", f"feature.{name}.drifted")],
                    title=f"{name}: drift effect",
                    y_label="effect",
                    markers=markers,
                    threshold=floors.get(name),
                    threshold_label="drifts at",
                    width=380,
                    height=190,
                ),
            }
        )
    overall = [
        line_chart(
            "drift.share",
            [_line(main, "drift.share", "share drifted", "prediction.drifted")],
            title="Share of features drifted",
            y_label="share",
            markers=markers,
            percent=True,
        )
    ]
    missing = [
        (name, max(abs(r["signals"].get(f"feature.{name}.missing_delta", 0.0)) for r in main))
        for name, _, _ in features
        if _has(main, f"feature.{name}.missing_delta")
    ]
    missing.sort(key=lambda m: (-m[1], m[0]))
    if missing:
        overall.append(
            line_chart(
                "feature.missing_delta",
                [_line(main, f"feature.{name}.missing_delta", name) for name, _ in missing[:7]],
                title="Change of missing share per feature (largest 7)",
                y_label="Δ missing share",
                markers=markers,
                percent=True,
            )
        )
    if _has(main, "prediction.effect"):
        overall.append(
            line_chart(
                "prediction.effect",
                [_line(main, "prediction.effect", "prediction", "prediction.drifted")],
                title="Prediction distribution: drift effect",
                y_label="effect",
                markers=markers,
            )
        )
    newest = next(((r, p) for r in reversed(main) if (p := _prediction_plot(r))), None)
    if newest is not None:
        row, plot = newest
        overall.append(
            bar_chart(
                "prediction.distribution",
                [str(x) for x in plot["labels"]],
                [("training data", plot["ref"]), (f"window {row['start']:%H:%M}", plot["cur"])],
                title=f"Predictions: newest window vs training ({row['ref']})",
            )
        )
    if _has(main, "multivariate.auc"):
        overall.append(
            line_chart(
                "multivariate.auc",
                [_line(main, "multivariate.auc", "domain classifier AUC")],
                title="Multivariate drift (domain classifier AUC)",
                y_label="AUC",
                markers=markers,
                threshold=0.5,
                threshold_label="no drift",
            )
        )
    return small, overall


def _prediction_plot(row: Row) -> dict[str, Any] | None:
    drift = (row["summary"] or {}).get("drift")
    pred = drift.get("prediction") if isinstance(drift, Mapping) else None
    plot = pred.get("plot") if isinstance(pred, Mapping) else None
    # one bin (e.g. a constant answer) says nothing a bar chart could show
    if isinstance(plot, Mapping) and len(plot.get("labels") or []) > 1 and plot.get("cur"):
        return dict(plot)
    return None


def _floors(rows: list[Row], reg: Registry) -> dict[str, float]:
    """The effect each feature drifts at: from the stored detail, else the project's drift
    settings by the feature's kind in the newest version's signature."""
    floors: dict[str, float] = {}
    for row in rows:
        for name, d in row["detail"].items():
            if isinstance(d.get("min_effect"), int | float):
                floors[name] = float(d["min_effect"])
    if rows:
        from modelyard.monitoring.drift import DriftSettings

        try:
            settings = DriftSettings.from_dict(reg.config.monitoring.drift)
        except ValueError:
            settings = DriftSettings()
        sig = queries.version_by_id(reg, rows[-1]["version_id"]).signature
        for col in sig.get("inputs", []):
            name = str(col.get("name"))
            if name not in floors:
                numeric = col.get("type") in ("integer", "float")
                pol = settings.policy(name, "numeric" if numeric else "categorical")
                floors[name] = pol.threshold if pol.threshold is not None else pol.min_effect
    return floors


def ops_charts(rows: list[Row], markers: list[Marker]) -> list[str]:
    """Throughput, error rate and latency per version."""
    charts = []
    by_rate: dict[str, list[tuple[dt.datetime, float | None]]] = {}
    for r in rows:
        seconds = max((r["end"] - r["start"]).total_seconds(), 1e-9)
        by_rate.setdefault(r["ref"], []).append((r["start"], r["requests"] / seconds))
    charts.append(
        line_chart(
            "requests",
            [Series(ref, pts) for ref, pts in sorted(by_rate.items())],
            title="Throughput",
            y_label="requests / s",
            markers=markers,
        )
    )
    charts.append(
        line_chart(
            "error_rate",
            _by_version(rows, "error_rate"),
            title="Error rate",
            y_label="errors",
            markers=markers,
            percent=True,
        )
    )
    latency = []
    for s in _by_version(rows, "latency.p99_ms"):
        latency.append(Series(f"{s.name} p99", s.points))
    for s in _by_version(rows, "latency.p50_ms"):
        latency.append(Series(f"{s.name} p50", s.points, dashed=True))
    charts.append(
        line_chart("latency", latency, title="Latency p50 / p99", y_label="ms", markers=markers)
    )
    return charts


QUALITY = (
    ("quality.accuracy", "Live accuracy", "accuracy", True),
    ("quality.auc", "Live AUC", "AUC", False),
    ("quality.f1", "Live F1", "F1", False),
    ("quality.rmse", "Live RMSE", "RMSE", False),
    ("quality.mae", "Live MAE", "MAE", False),
    ("quality.kpi", "Business KPI", "KPI", False),
    ("quality.labels", "Labels received per window", "labels", False),
)


def quality_charts(rows: list[Row], markers: list[Marker]) -> list[str]:
    """Live quality per version, once labels exist (windows without labels leave gaps)."""
    if not any(r["signals"].get("quality.labels", 0.0) > 0 for r in rows) and not _has(
        rows, "quality.accuracy"
    ):
        return []
    return [
        line_chart(
            key, _by_version(rows, key), title=title, y_label=unit, markers=markers, percent=pct
        )
        for key, title, unit, pct in QUALITY
        if _has(rows, key)
    ]


# ---- page contexts -------------------------------------------------------------------------
def overview(reg: Registry, since: dt.datetime | None) -> dict[str, Any]:
    """Every endpoint's newest window and firing alerts, and drift share over time."""
    view = MonitoringView(reg)
    firing = view.firing_counts()
    rows = {ep: view.results(ep, since=since) for ep in monitored_endpoints(reg)}
    series = [
        Series(ep, [(r["start"], r["signals"].get("drift.share")) for r in view.primary(rs)])
        for ep, rs in rows.items()
    ]
    return {
        "name": None,
        "endpoints": [
            {"name": ep, "latest": latest_status(rs), "firing": firing.get(ep, 0)}
            for ep, rs in rows.items()
        ],
        "overview": line_chart(
            "drift.share",
            series,
            title="Share of features drifted, per endpoint",
            y_label="share",
            percent=True,
            width=1000,
        ),
        "alerts": view.alerts.find("open", limit=50),
    }


def endpoint_page(reg: Registry, name: str, since: dt.datetime | None) -> dict[str, Any]:
    """One endpoint over time: drift per feature, missingness, prediction, traffic, quality,
    annotated with what changed; its alerts and the playbook actions they caused."""
    view = MonitoringView(reg)
    rows = view.results(name, since=since)
    if not rows and name not in monitored_endpoints(reg):
        raise NotFound(
            f"no endpoint {name!r} with routes or monitoring windows",
            hint="the monitoring page lists the endpoints it knows",
        )
    notes = view.annotations(name, rows[0]["start"], rows[-1]["end"]) if rows else []
    markers = markers_of(notes)
    features, overall = drift_charts(rows, markers, reg)
    return {
        "name": name,
        "latest": latest_status(rows),
        "windows": len(rows),
        "annotations": notes,
        "features": features,
        "overall": overall,
        "ops": ops_charts(rows, markers) if rows else [],
        "quality": quality_charts(rows, markers),
        "alerts": view.alerts.find("all", name, limit=100),
        "actions": actions_with_alerts(reg, name),
    }


# ---- summaries for tables ----------------------------------------------------------------------
def latest_status(rows: list[Row]) -> dict[str, Any] | None:
    """The newest window of the endpoint (the version with most requests in it)."""
    main = MonitoringView.primary(rows)
    if not main:
        return None
    last = main[-1]
    s = last["signals"]
    drifted = [n for n in feature_names([last]) if s.get(f"feature.{n}.drifted", 0.0) >= 1]
    return {
        "start": last["start"],
        "end": last["end"],
        "ref": last["ref"],
        "requests": last["requests"],
        "error_rate": s.get("error_rate"),
        "p99": s.get("latency.p99_ms"),
        "share": s.get("drift.share"),
        "drifted": drifted,
        "prediction_drifted": s.get("prediction.drifted", 0.0) >= 1,
        "accuracy": s.get("quality.accuracy"),
    }


def drift_status(reg: Registry) -> dict[str, dict[str, Any]]:
    """Per endpoint: its newest window's drift verdict and firing alerts (for the catalog)."""
    view = MonitoringView(reg)
    firing = view.firing_counts()
    out: dict[str, dict[str, Any]] = {}
    for name in monitored_endpoints(reg):
        status = latest_status(view.results(name, limit=20))
        out[name] = {"latest": status, "firing": firing.get(name, 0)}
    return out
