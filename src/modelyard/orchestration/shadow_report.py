"""The shadow comparison report: how a shadow version's answers compare with the champion's on
the same live requests, from the prediction log.

A shadow answer is logged with ``role: "shadow"`` under the same prediction id as the answer the
caller got, so the two are joined by id: pairs compared, agreement of the predicted label per
row, absolute differences of the numeric scores (probabilities, or a regression's prediction),
latency of each side, and the champion answers the shadow did not answer. A verdict line says
whether the figures support promoting the shadow. The report is stored with the shadow version
(``reports`` kind ``shadow``: JSON and HTML artifacts) for the dashboard and the promotion.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import orjson

from modelyard.core.errors import InvalidInput, NotFound
from modelyard.core.lifecycle import Role
from modelyard.registry import queries
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.registry.reports import record_report

MIN_PAIRS = 50
MIN_AGREEMENT = 0.95


@dataclass
class ShadowReport:
    endpoint: str
    shadow: str
    champion: str | None  # the version that answered most of the paired requests
    pairs: int  # requests answered by both
    rows: int  # predicted rows compared (a request may carry several)
    agreement: float | None  # share of rows with the same predicted label
    score_outputs: list[str]  # outputs whose numbers were compared
    score_diff: dict[str, float] | None  # mean, p50, p95, max of |shadow - champion|
    latency_ms: dict[str, dict[str, float | None]]  # champion/shadow → p50, p99
    unanswered: int  # champion answers in the shadow's span with no shadow answer
    shadow_errors: int | None  # = unanswered when every request is mirrored, else unknown
    sample: float | None  # share of requests mirrored (route weight or endpoint config)
    passed: bool | None  # None: too few pairs to judge
    verdict: str
    reasons: list[str] = field(default_factory=list)
    created_at: str = ""
    report_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_entries(reg: Registry, endpoint: str) -> list[dict[str, Any]]:
    """Every logged prediction of an endpoint (JSONL and Parquet logs)."""
    from modelyard.store.prediction_log import read_logs

    return list(read_logs(reg.settings, endpoint, reg.artifacts.keyring))


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _numbers(value: Any) -> list[float] | None:
    """The numbers of one output (nested lists flattened), or None if not all numeric."""
    arr = np.asarray(value, dtype=object).ravel()
    out = []
    for v in arr:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        out.append(float(v))
    return out


def _score_outputs(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Probabilities (every numeric output but ``predict``) when there are any; otherwise
    ``predict`` itself when it is a float (a regression)."""
    if not pairs:
        return []
    champ, shadow = pairs[0]
    common = sorted(set(champ["output"]) & set(shadow["output"]))
    scores = [n for n in common if n != "predict" and _numbers(champ["output"][n]) is not None]
    if scores:
        return scores
    if "predict" in common:
        vals = np.asarray(champ["output"]["predict"], dtype=object).ravel()
        if len(vals) and all(isinstance(v, float) for v in vals):
            return ["predict"]
    return []


def _shadow_version(reg: Registry, endpoint: str, entries: list[dict[str, Any]]) -> str:
    routed = [
        f"{r.model_name}@{r.version}"
        for r in queries.routes(reg, endpoint)
        if r.role == Role.SHADOW.value
    ]
    if len(routed) == 1:
        return routed[0]
    if len(routed) > 1:
        raise InvalidInput(
            f"endpoint {endpoint!r} has {len(routed)} shadows ({', '.join(routed)})",
            hint="name one with --version MODEL@VERSION",
        )
    logged = [e["version"] for e in entries if e.get("role") == Role.SHADOW.value]
    if not logged:
        raise NotFound(
            f"endpoint {endpoint!r} has no shadow answers in the prediction log",
            hint="deploy one with `modelyard deploy REF --to ENDPOINT --strategy shadow`",
        )
    return str(logged[-1])


def _sample(reg: Registry, endpoint: str, shadow: str) -> float | None:
    for r in queries.routes(reg, endpoint):
        if r.role == Role.SHADOW.value and f"{r.model_name}@{r.version}" == shadow:
            if r.weight > 0:
                return float(r.weight)
            config = reg.config.endpoints.get(endpoint)
            return config.shadow.sample if config is not None else 1.0
    return None


def compare(
    endpoint: str,
    shadow: str,
    entries: Iterable[dict[str, Any]],
    sample: float | None = None,
    *,
    min_pairs: int = MIN_PAIRS,
    min_agreement: float = MIN_AGREEMENT,
    max_p99_ratio: float = 1.5,
    max_error_rate: float = 0.01,
) -> ShadowReport:
    """The comparison over logged entries (pure: no store, no files)."""
    champions: dict[str, dict[str, Any]] = {}
    shadows: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("role") == Role.SHADOW.value:
            if e["version"] == shadow:
                shadows[e["id"]] = e
        else:
            champions.setdefault(e["id"], e)
    pairs = [(champions[i], s) for i, s in shadows.items() if i in champions]
    # the shadow's span: champion answers logged while it was mirrored
    stamps = sorted(s["at"] for s in shadows.values())
    unanswered = 0
    if stamps:
        lo, hi = stamps[0], stamps[-1]
        unanswered = sum(
            1 for i, c in champions.items() if lo <= c["at"] <= hi and i not in shadows
        )
    same = rows = 0
    for c, s in pairs:
        a = np.asarray(c["output"].get("predict", []), dtype=object).ravel()
        b = np.asarray(s["output"].get("predict", []), dtype=object).ravel()
        n = min(len(a), len(b))
        rows += n
        same += sum(1 for x, y in zip(a[:n], b[:n], strict=True) if x == y)
    names = _score_outputs(pairs)
    diffs: list[float] = []
    for c, s in pairs:
        for name in names:
            x, y = _numbers(c["output"].get(name)), _numbers(s["output"].get(name))
            if x is not None and y is not None and len(x) == len(y):
                diffs.extend(abs(p - q) for p, q in zip(x, y, strict=True))
    score_diff = None
    if diffs:
        score_diff = {
            "mean": float(np.mean(diffs)),
            "p50": float(np.percentile(diffs, 50)),
            "p95": float(np.percentile(diffs, 95)),
            "max": float(np.max(diffs)),
        }
    c_lat = [float(c["latency_ms"]) for c, _ in pairs]
    s_lat = [float(s["latency_ms"]) for _, s in pairs]
    latency = {
        "champion": {"p50": _pct(c_lat, 50), "p99": _pct(c_lat, 99)},
        "shadow": {"p50": _pct(s_lat, 50), "p99": _pct(s_lat, 99)},
    }
    who = Counter(c["version"] for c, _ in pairs).most_common(1)
    report = ShadowReport(
        endpoint=endpoint,
        shadow=shadow,
        champion=who[0][0] if who else None,
        pairs=len(pairs),
        rows=rows,
        agreement=same / rows if rows else None,
        score_outputs=names,
        score_diff=score_diff,
        latency_ms=latency,
        unanswered=unanswered,
        shadow_errors=unanswered if sample is not None and sample >= 1.0 else None,
        sample=sample,
        passed=None,
        verdict="",
        created_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    _judge(report, min_pairs, min_agreement, max_p99_ratio, max_error_rate)
    return report


def _judge(
    r: ShadowReport, min_pairs: int, min_agreement: float, max_ratio: float, max_err: float
) -> None:
    if r.pairs < min_pairs:
        r.verdict = f"hold: {r.pairs} paired answers, {min_pairs} needed to judge {r.shadow}"
        return
    if r.agreement is not None and r.agreement < min_agreement:
        r.reasons.append(f"agreement {r.agreement:.1%} < {min_agreement:.1%}")
    c99, s99 = r.latency_ms["champion"]["p99"], r.latency_ms["shadow"]["p99"]
    if c99 and s99 is not None and s99 > max_ratio * c99:
        r.reasons.append(f"p99 {s99:.2f} ms > {max_ratio:g} x champion's {c99:.2f} ms")
    if r.shadow_errors is not None and r.shadow_errors / (r.pairs + r.shadow_errors) > max_err:
        r.reasons.append(f"{r.shadow_errors} champion answers got no shadow answer")
    r.passed = not r.reasons
    agree = "n/a" if r.agreement is None else f"{r.agreement:.1%}"
    figures = f"agreement {agree} over {r.pairs} requests, p99 {s99:.2f} ms vs {c99:.2f} ms"
    if r.passed:
        r.verdict = f"promote: {r.shadow} matches {r.champion} ({figures})"
    else:
        r.verdict = f"do not promote {r.shadow}: {'; '.join(r.reasons)}"


def shadow_report(
    reg: Registry,
    endpoint: str,
    version: str | None = None,
    *,
    store: bool = True,
    min_pairs: int = MIN_PAIRS,
    min_agreement: float = MIN_AGREEMENT,
) -> ShadowReport:
    """Compare the endpoint's shadow (or ``version``) with the champion from the prediction log;
    with ``store`` the report is kept with the shadow version (kind ``shadow``)."""
    entries = read_entries(reg, endpoint)
    shadow = reg.model_version(version).ref if version else _shadow_version(reg, endpoint, entries)
    mv = reg.model_version(shadow)
    policy = reg.config.model(mv.model_name).rollout
    report = compare(
        endpoint,
        shadow,
        entries,
        _sample(reg, endpoint, shadow),
        min_pairs=min_pairs,
        min_agreement=min_agreement,
        max_p99_ratio=policy.max_p99_ratio,
        max_error_rate=policy.max_error_rate,
    )
    if store:
        report.report_id = _store(reg, mv, report)
    return report


def _store(reg: Registry, mv: ModelVersion, report: ShadowReport) -> int:
    blob = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2)
    page = render_html(report).encode()
    put_json, put_html = reg.artifacts.put(blob), reg.artifacts.put(page)
    summary = {
        k: v
        for k, v in report.to_dict().items()
        if k not in ("score_outputs", "reasons", "report_id")
    }
    return record_report(
        reg,
        {
            "model_version_id": mv.id,
            "kind": "shadow",
            "passed": report.passed,
            "summary": summary,
            "artifact_digest": put_json.digest,
            "artifact_digest_size": put_json.size,
            "html_digest": put_html.digest,
            "html_digest_size": put_html.size,
            "created_by": reg.settings.user,
        },
    )


def _fmt(v: float | None, unit: str = "") -> str:
    return "-" if v is None else f"{v:.4g}{unit}"


def render_html(r: ShadowReport) -> str:
    """A self-contained page (no scripts, no external assets)."""
    e = html.escape
    colour = {True: "#1a7f37", False: "#cf222e", None: "#9a6700"}[r.passed]
    diff = r.score_diff or {}
    rows = [
        ("champion", r.champion or "-"),
        ("pairs compared", str(r.pairs)),
        ("rows compared", str(r.rows)),
        ("label agreement", "-" if r.agreement is None else f"{r.agreement:.2%}"),
        ("scores compared", ", ".join(r.score_outputs) or "-"),
        *[(f"|score diff| {k}", _fmt(diff.get(k))) for k in ("mean", "p50", "p95", "max")],
        *[
            (f"{side} latency {q}", _fmt(r.latency_ms[side][q], " ms"))
            for side in ("champion", "shadow")
            for q in ("p50", "p99")
        ],
        ("unanswered by the shadow", str(r.unanswered)),
        ("shadow errors", "unknown (sampled)" if r.shadow_errors is None else str(r.shadow_errors)),
        ("mirrored share", _fmt(r.sample)),
    ]
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Shadow report {e(r.shadow)} on {e(r.endpoint)}</title>"
        "<style>body{font:14px system-ui;margin:2em}th{text-align:left;padding-right:2em}"
        "td,th{border-bottom:1px solid #ddd;padding:.3em}</style></head><body>"
        f"<h1>Shadow {e(r.shadow)} on {e(r.endpoint)}</h1>"
        f"<p style='color:{colour};font-weight:bold'>{e(r.verdict)}</p>"
        f"<table>{body}</table><p>{e(r.created_at)}</p></body></html>"
    )
