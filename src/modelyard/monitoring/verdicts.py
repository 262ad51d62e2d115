"""Reading the monitor's stored verdicts (one per endpoint, version and window): the flat signal
mapping and per-feature drift detail of a verdict, the verdicts of an endpoint over time, the
newest verdict of each version, and the endpoints there is something to show for."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

from modelyard.core.monitoring_records import VersionUsage, WindowVerdict
from modelyard.registry.registry import Registry
from modelyard.store.metadata import Row
from modelyard.store.windows import WindowStore


def signals_of(summary: Mapping[str, Any]) -> dict[str, float]:
    """The flat signal mapping of a stored verdict (``feature.age.effect`` → 0.12): from its
    ``signals`` mapping when it has one, else its top-level numbers."""
    raw = summary.get("signals")
    source = raw if isinstance(raw, Mapping) else summary
    out: dict[str, float] = {}
    for key, value in source.items():
        if isinstance(value, int | float) and math.isfinite(float(value)):  # bools count as 0/1
            out[str(key)] = float(value)
    return out


def feature_details(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-feature drift detail stored beside the signals (kind, the effect floor that decides,
    severity), by feature name; empty when the verdict carries none."""
    found: dict[str, dict[str, Any]] = {}
    for key in ("drift", "detail", "features"):
        block = summary.get(key)
        features = block.get("features") if isinstance(block, Mapping) else block
        if not isinstance(features, list):
            continue
        for f in features:
            if not isinstance(f, Mapping) or "name" not in f:
                continue
            floor = f.get("min_effect")
            for s in f.get("signals") or []:
                if isinstance(s, Mapping) and s.get("signal") == "distribution":
                    floor = s.get("threshold") or s.get("min_effect")
            found[str(f["name"])] = {
                "kind": f.get("kind"),
                "min_effect": floor,
                "severity": f.get("severity"),
            }
        if found:
            break
    return found


def feature_names(rows: Iterable[Row]) -> list[str]:
    """The features that have signals in any of these verdicts (read with :func:`verdicts`)."""
    names: set[str] = set()
    for row in rows:
        for key in row["signals"]:
            if key.startswith("feature.") and key.count(".") >= 2:
                names.add(key[len("feature.") :].rsplit(".", 1)[0])
    return sorted(names)


def verdicts(
    reg: Registry,
    endpoint: str | None = None,
    since: dt.datetime | None = None,
    limit: int | None = None,
) -> list[Row]:
    """Verdicts oldest first (with ``limit``: the newest ``limit`` of them), each with its flat
    ``signals`` and its per-feature ``detail``."""
    return [
        {
            **dataclasses.asdict(row),
            "signals": signals_of(row.summary or {}),
            "detail": feature_details(row.summary or {}),
        }
        for row in WindowStore(reg.store).results(endpoint=endpoint, since=since, limit=limit)
    ]


def stored(
    reg: Registry,
    endpoint: str | None = None,
    version_id: int | None = None,
    since: dt.datetime | None = None,
    limit: int | None = None,
) -> list[WindowVerdict]:
    """The stored verdict rows as they are, oldest first (with ``limit``: the newest ``limit``)."""
    return WindowStore(reg.store).results(endpoint, version_id, since, limit)


def usage(reg: Registry, version_id: int) -> VersionUsage:
    """A version's traffic and inference CPU over all its windows, and when it was last seen."""
    return WindowStore(reg.store).usage(version_id)


def latest_per_version(
    reg: Registry, endpoint: str | None = None, scan: int = 500
) -> list[WindowVerdict]:
    """The newest verdict of each (endpoint, version) among the newest ``scan`` verdicts,
    ordered by endpoint and version id."""
    latest: dict[tuple[str, int], WindowVerdict] = {}
    for row in WindowStore(reg.store).results(endpoint=endpoint, limit=scan):
        latest[(row.endpoint, row.version_id)] = row  # oldest first: the newest wins
    return [row for _, row in sorted(latest.items(), key=lambda kv: kv[0])]


def monitored_endpoints(reg: Registry) -> list[str]:
    """Endpoints with routes or with stored verdicts, sorted."""
    names = {r.endpoint for r in reg.store.routes.all()}
    return sorted(names | set(WindowStore(reg.store).judged_endpoints()))
