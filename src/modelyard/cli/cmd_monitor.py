"""``modelyard monitor``: batch drift reports, the live monitoring loop and its status.

Imports of pandas/scipy/scikit-learn happen inside the commands, so ``modelyard monitor --help``
stays fast.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli.app import JsonOpt, ProjectOpt, app, open_registry
from modelyard.core.monitoring_records import WindowVerdict
from modelyard.terminal import render

if TYPE_CHECKING:
    from modelyard.monitoring.alerts import AlertEvent
    from modelyard.registry.registry import Registry

# Called with the events of every tick of `monitor run`, after the sinks (playbooks, feedback
# joining plug in here). A hook that raises is logged; the loop goes on.
ON_EVENTS: list[Callable[[Registry, list[AlertEvent]], None]] = []

LEASE = "monitor"

monitor_app = typer.Typer(
    help="Drift and data-quality monitoring: batch drift reports, the live monitor loop "
    "(judges windows, fires alerts) and its status.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor")


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _load(spec: str, project: Path, reg_box: list[Any]) -> tuple[Any, dict[str, Any] | None]:
    """A file path (CSV/TSV/Parquet) or a registered dataset ref NAME@VERSION."""
    from modelyard.core.errors import InvalidInput
    from modelyard.registry.tabular import FORMATS, read_table

    path = Path(spec)
    if path.exists() or path.suffix.lower() in FORMATS:
        return read_table(path), None
    if "@" not in spec:
        raise InvalidInput(
            f"{spec!r} is neither a file nor a dataset ref",
            hint="pass a CSV/Parquet path or NAME@VERSION of a registered dataset",
        )
    if not reg_box:
        reg_box.append(open_registry(project))
    reg = reg_box[0]
    ds = reg.dataset(spec)
    return reg.load_dataset(ds), ds.schema


@monitor_app.command("report")
def report(
    reference: Annotated[str, typer.Argument(help="Reference data: file or NAME@VERSION.")],
    current: Annotated[str, typer.Argument(help="Current data: file or NAME@VERSION.")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the JSON report to this file.")
    ] = None,
    categorical: Annotated[
        list[str] | None,
        typer.Option("--categorical", "-c", help="Treat these numeric columns as categories."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-x", help="Columns to leave out.")
    ] = None,
    prediction: Annotated[
        str | None, typer.Option("--prediction", help="Column holding model predictions.")
    ] = None,
    alpha: Annotated[
        float, typer.Option(help="Family-wise false-alarm level across all checks.")
    ] = 0.05,
    multivariate: Annotated[
        bool, typer.Option(help="Also run the domain-classifier (multivariate) test.")
    ] = True,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with code 1 when drift is found.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Window end for datetime columns' freshness (ISO 8601, UTC if no zone; "
            "default now).",
        ),
    ] = None,
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """Compare two datasets feature by feature (and jointly) and report drift.

    Example: [bold]modelyard monitor report flights@1 flights@2 --html drift.html[/]
    """
    from modelyard.monitoring.drift import DriftSettings
    from modelyard.monitoring.report import drift_report, to_html, to_json

    reg_box: list[Any] = []
    try:
        with render.console.status("loading data…"):
            ref, ref_schema = _load(reference, project, reg_box)
            cur, _ = _load(current, project, reg_box)
    finally:
        for reg in reg_box:
            reg.close()
    cats, excl = set(_split(categorical)), set(_split(exclude))
    if ref_schema:
        for col in ref_schema.get("columns", []):
            if col.get("pii"):
                excl.add(col["name"])
            elif col.get("categorical"):
                cats.add(col["name"])
    try:
        settings = DriftSettings(alpha=alpha, multivariate=multivariate).validate()
        window_end = None if as_of is None else dt.datetime.fromisoformat(as_of)
    except ValueError as exc:
        from modelyard.core.errors import InvalidInput

        raise InvalidInput(str(exc)) from None
    with render.console.status("comparing…"):
        result = drift_report(
            ref,
            cur,
            settings,
            categorical=sorted(cats),
            exclude=sorted(excl),
            prediction=prediction,
            as_of=window_end,
        )
    if html is not None:
        html.write_text(to_html(result, title=f"Drift: {reference} → {current}"), "utf-8")
    if out is not None:
        out.write_text(to_json(result), "utf-8")
    if json_:
        print(to_json(result))
    else:
        _print_table(result, reference, current, html)
    if fail_on_drift and result.drifted:
        raise typer.Exit(1)


def _print_table(result: Any, reference: str, current: str, html: Path | None) -> None:
    from modelyard.monitoring.report import duration

    rows = []
    feats = [*result.features, *([result.prediction] if result.prediction else [])]
    for f in sorted(
        feats, key=lambda f: ({"critical": 0, "warning": 1}.get(f.severity, 2), f.name)
    ):
        main = f.tests.get("ks") or f.tests.get("chi2")
        fired = ", ".join(s.signal for s in f.signals if s.drifted) or "-"
        psi = f.tests.get("psi")
        rows.append(
            [
                f.name + (" (prediction)" if f.role == "prediction" else ""),
                f.kind,
                f.severity,
                fired,
                "-" if main is None else f"{main.statistic:.4g}",
                "-" if psi is None else f"{psi.statistic:.4f}",
            ]
        )
    title = (
        f"{reference} → {current}: "
        + (f"drift in {len(result.drifted_features)}/{len(result.features)} features"
           if result.drifted else "no drift")
    )  # fmt: skip
    render.table(title, ["feature", "kind", "severity", "signals", "KS / χ²", "PSI"], rows)
    mv = result.multivariate
    if mv:
        verdict = "drift" if mv.get("drifted") else "no drift"
        render.console.print(f"multivariate: domain-classifier AUC {mv['auc']:.3f} ({verdict})")
    for d in result.datetimes:
        render.console.print(
            f"{d.name}: newest {d.cur_max.isoformat() if d.cur_max else '-'}, "
            f"lag {duration(d.lag_s)} to {d.as_of.isoformat()}"
        )
    if html is not None:
        render.console.print(f"HTML report: {html}")


# ---- the live loop -----------------------------------------------------------------------
def tick_once(
    reg: Registry, monitor: Any, dispatcher: Any, playbooks: Any = None
) -> list[AlertEvent]:
    """One pass of the leader (see ``rollout.monitor_pass.run_pass``) plus the ``ON_EVENTS``
    hooks."""
    from modelyard.orchestration.monitor_pass import run_pass

    return run_pass(reg, monitor, dispatcher, playbooks, hooks=ON_EVENTS)


@monitor_app.command("run")
def run(
    once: Annotated[
        bool, typer.Option("--once", help="One pass (judge, alert, deliver), then exit.")
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option("--interval", help="Seconds between passes (default: monitoring.interval_s)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Expose the judged signals as Prometheus gauges (modelyard_monitor_signal) "
            "on this port.",
            min=1,
            max=65535,
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Interface for --metrics-port.")
    ] = "127.0.0.1",
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """Judge closed live windows, fire and resolve alerts and deliver them to the sinks.

    Run as many copies as you like (one per replica, say): only the holder of the lease
    [bold]monitor[/] acts, the others stand by and take over when it stops renewing.
    Ctrl-C (or SIGTERM) stops after the current pass and hands the lease back; a second
    Ctrl-C stops at once.

    Example: [bold]modelyard monitor run --interval 10[/]
    """
    import logging
    import signal
    import threading

    from modelyard.core.errors import InvalidInput

    if interval is not None and interval <= 0:
        raise InvalidInput(f"--interval must be > 0 seconds, got {interval}")
    if not logging.getLogger().handlers:  # ours at INFO (alert records, leadership), others quiet
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
        logging.getLogger("modelyard").setLevel(logging.INFO)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: do not wait for the pass to finish
            raise KeyboardInterrupt
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    exporter = None
    if metrics_port is not None:
        from modelyard.monitoring.exporter import serve_metrics

        reg = open_registry(project)
        exporter = serve_metrics(reg, metrics_port, host=metrics_host)[0]
    try:
        _loop(project, once, interval, json_, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if exporter is not None:
            exporter.shutdown()
            reg.close()


def run_loop(project: Path, stop: Any, interval: float | None = None) -> None:
    """The monitor loop until ``stop`` is set (``modelyard serve --monitor`` runs it on a
    thread)."""
    import logging

    try:
        _loop(project, False, interval, False, stop)
    except Exception:  # never take the server down with it
        logging.getLogger("modelyard.monitoring").exception("the monitor loop stopped")


def _loop(project: Path, once: bool, interval: float | None, json_: bool, stop: Any) -> None:
    import logging
    import os
    import socket
    import uuid
    from functools import partial

    from modelyard.monitoring.evaluate import Monitor
    from modelyard.monitoring.leader import Lease, lease_holder
    from modelyard.monitoring.quality import window_quality
    from modelyard.monitoring.sinks import Dispatcher
    from modelyard.orchestration.playbooks import Playbooks

    log = logging.getLogger("modelyard.monitoring")
    with open_registry(project) as reg:
        period = interval or reg.config.monitoring.interval_s
        monitor = Monitor(reg, quality=partial(window_quality, reg))
        dispatcher = Dispatcher.of(reg)
        playbooks = Playbooks(reg, actor="monitor")
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lease = Lease(reg, LEASE, owner, max(3 * period, 30.0))
        leading: bool | None = None
        try:
            while True:
                try:
                    holds = lease.hold()
                except Exception:  # the store is unreachable: try again next period
                    if once:
                        raise
                    log.exception("monitor: could not take the lease; retrying")
                    if stop.wait(period):
                        break
                    continue
                if holds != leading:
                    if holds:
                        monitor.resume()
                    holder = lease_holder(reg, LEASE)
                    who = holder.owner if holder else "nobody"
                    log.info("monitor %s: %s", owner, "leading" if holds else f"standby ({who})")
                    leading = holds
                events: list[AlertEvent] = []
                if holds:
                    try:
                        events = tick_once(reg, monitor, dispatcher, playbooks)
                    except Exception:
                        if once:
                            raise
                        log.exception("monitor pass failed; retrying in %.0f s", period)
                if once:
                    _print_pass(holds, monitor.judged, events, json_)
                    break
                for e in events:
                    log.info("alert #%s %s: %s", e.alert_id, e.event, e.message)
                if stop.wait(period):
                    break
            log.info("monitor %s: stopped", owner)
        except KeyboardInterrupt:
            log.info("monitor %s: interrupted", owner)
        finally:
            try:
                lease.release()
            except Exception:  # it expires by itself
                log.warning("monitor %s: could not release the lease", owner, exc_info=True)


def _print_pass(leading: bool, judged: int, events: list[Any], json_: bool) -> None:
    if json_:
        render.emit_json(
            {"leader": leading, "judged": judged, "events": [e.to_dict() for e in events]}
        )
        return
    if not leading:
        render.console.print("another monitor holds the lease 'monitor': nothing done")
        return
    render.console.print(f"judged {judged} window(s); {len(events)} alert event(s)")
    for e in events:
        render.console.print(f"  #{e.alert_id} {e.event} [{e.tier}] {e.rule}: {e.message}")


@monitor_app.command("status")
def status(
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", "-e", help="Only this endpoint.")
    ] = None,
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """The latest judged window per endpoint and version, and the open alerts.

    Example: [bold]modelyard monitor status --endpoint arrests[/]
    """
    from modelyard.monitoring.alerts import AlertBook
    from modelyard.monitoring.leader import lease_holder
    from modelyard.monitoring.verdicts import latest_per_version

    with open_registry(project) as reg:
        latest = latest_per_version(reg, endpoint)
        alerts = AlertBook.of(reg).find("open", endpoint)
        holder = lease_holder(reg, LEASE)
    windows = [_status_row(r) for r in latest]
    if json_:
        render.emit_json(
            {
                "windows": windows,
                "alerts": [dataclasses.asdict(a) for a in alerts],
                "leader": dataclasses.asdict(holder) if holder else None,
            }
        )
        return
    render.table(
        "latest windows",
        ["endpoint", "version", "window start", "requests", "error rate", "p99 ms", "drifted"],
        [
            [
                w["endpoint"], w["version"], render.ago(w["start"]), w["requests"],
                _pct(w["error_rate"]), _num(w["latency_p99_ms"]),
                ", ".join(w["drifted"]) or "-",
            ]
            for w in windows
        ],
    )  # fmt: skip
    render.table(
        "open alerts",
        ["id", "endpoint", "rule", "tier", "state", "value", "since"],
        [
            [a.id, a.endpoint, a.rule, a.tier, a.state, _num(a.value),
             render.ago(a.started_at)]
            for a in alerts
        ],
    )  # fmt: skip
    if holder:
        render.console.print(f"monitor leader: {holder.owner} (lease to "
                             f"{render.ago(holder.expires_at)})")  # fmt: skip
    else:
        render.console.print("monitor leader: none (is `modelyard monitor run` running?)")


def _status_row(r: WindowVerdict) -> dict[str, Any]:
    s = r.summary
    sig = s.get("signals") or {}
    drift = s.get("drift") or {}
    drifted = list(drift.get("drifted_features") or [])
    if sig.get("prediction.drifted"):
        drifted.append("(prediction)")
    return {
        "endpoint": r.endpoint,
        "version": s.get("version", r.version_id),
        "start": r.start,
        "end": r.end,
        "requests": r.requests,
        "error_rate": sig.get("error_rate"),
        "latency_p99_ms": sig.get("latency.p99_ms"),
        "drifted": drifted,
        "baseline": s.get("baseline"),
    }


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"
