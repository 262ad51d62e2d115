"""The dashboard's monitoring, alerts and review pages, in-process over a real store (SQLite and
PostgreSQL): verdicts, alerts, playbook actions and review items are written through their store
modules, and the pages draw them as SVG charts annotated with what changed meanwhile. A viewer
sees no forms; the permission table decides who may acknowledge and who may review.

Also the chart module on its own: escaping, empty data, gaps, flags, markers."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from html import unescape
from typing import Any

import pytest
from starlette.testclient import TestClient

from modelyard.registry.registry import ModelVersion, Registry
from modelyard.security import tokens
from modelyard.store.alerts import AlertStore
from modelyard.store.feedback import FeedbackStore
from modelyard.store.playbooks import PlaybookStore
from modelyard.store.rollouts import RolloutStore
from modelyard.store.windows import WindowStore
from modelyard.web.charts import Marker, Series, bar_chart, line_chart, nice_ticks
from modelyard.web.ui import parse_label
from tests.support import ui

WIDTH = dt.timedelta(minutes=2)
N_WINDOWS, DRIFT_FROM = 24, 14  # windows 14.. see the shift in 'alcohol'
SVG = "{http://www.w3.org/2000/svg}"


# ---- the chart module ---------------------------------------------------------------------
def _t(i: int) -> dt.datetime:
    return dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC) + i * WIDTH


def test_a_chart_is_well_formed_svg_with_escaped_text_everywhere() -> None:
    nasty = '<script>alert("x")</script> & "quotes"'
    svg = line_chart(
        'feature.<b>.effect"',
        [Series(nasty, [(_t(0), 0.1), (_t(1), 0.4)], flagged=[_t(1)])],
        title=nasty,
        y_label=nasty,
        markers=[Marker(_t(1), nasty, nasty, kind=nasty)],
        threshold=0.2,
        threshold_label=nasty,
    )
    assert "<script>" not in svg and "<b>" not in svg
    root = ET.fromstring(svg)  # parses: every attribute and text escaped
    assert root.get("data-series") == 'feature.<b>.effect"'
    assert root.find(f"{SVG}title").text == nasty  # type: ignore[union-attr]
    assert len(root.findall(f".//{SVG}circle[@class='flag']")) == 1


def test_no_data_gives_a_chart_that_says_so() -> None:
    for svg in (
        line_chart("latency", [], title="Latency", y_label="ms"),
        line_chart("latency", [Series("a", [(_t(0), None)])], title="Latency", y_label="ms"),
        bar_chart("prediction.distribution", [], [], title="Predictions"),
    ):
        root = ET.fromstring(svg)
        assert root.get("data-points") == "0"
        assert "No data yet" in svg and "<path" not in svg


def test_a_missing_value_breaks_the_line_and_markers_outside_the_span_are_left_out() -> None:
    svg = line_chart(
        "error_rate",
        [Series("v1", [(_t(0), 0.1), (_t(1), None), (_t(2), 0.2), (_t(3), 0.3)])],
        title="Errors",
        y_label="share",
        markers=[
            Marker(_t(2), "1", "deploy inside", "deploy"),
            Marker(_t(9), "2", "deploy after the data", "deploy"),
            Marker(_t(-9), "3", "data before", "data"),
        ],
        percent=True,
    )
    root = ET.fromstring(svg)
    d = root.find(f".//{SVG}path").get("d")  # type: ignore[union-attr]
    assert d is not None and d.count("M") == 2, "two segments around the gap"
    markers = root.findall(f".//{SVG}g[@class='marker marker-deploy']")
    assert [m.find(f"{SVG}title").text for m in markers] == ["deploy inside"]  # type: ignore[union-attr]
    assert root.findall(f".//{SVG}g[@class='marker marker-data']") == []
    assert "%" in svg, "percent axis labels"


def test_threshold_and_a_single_point_still_draw() -> None:
    svg = line_chart(
        "feature.age.effect",
        [Series("", [(_t(0), 0.05)])],
        title="age",
        y_label="effect",
        threshold=0.1,
        threshold_label="drifts at",
    )
    root = ET.fromstring(svg)
    assert root.find(f".//{SVG}g[@class='threshold']") is not None
    assert "drifts at 0.1" in svg
    assert root.findall(f".//{SVG}circle"), "a lone point is drawn as a dot"


def test_axis_ticks_are_round_numbers_covering_the_range() -> None:
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 37) == [0, 10, 20, 30]
    assert nice_ticks(3, 3) == [3]


def test_corrected_labels_take_the_type_of_the_model_answers() -> None:
    from modelyard.core.errors import InvalidInput

    assert parse_label(" 1 ", 0) == 1
    assert parse_label("true", False) is True
    assert parse_label("0.5", 1.0) == 0.5
    assert parse_label("Yes", "No") == "Yes"
    with pytest.raises(InvalidInput, match="not a whole number"):
        parse_label("yes", 0)
    with pytest.raises(InvalidInput, match="empty"):
        parse_label("  ", 0)


# ---- pages over a real store --------------------------------------------------------------
def _summary(i: int) -> dict[str, Any]:
    shifted = i >= DRIFT_FROM
    effect = 0.35 if shifted else 0.02 + (i % 3) * 0.01
    signals = {
        "requests": 200.0,
        "error_rate": 0.01 * (i % 2),
        "latency.p50_ms": 2.0,
        "latency.p99_ms": 9.0 + i % 4,
        "drift.count": 1.0 if shifted else 0.0,
        "drift.share": 0.5 if shifted else 0.0,
        "feature.alcohol.drifted": 1.0 if shifted else 0.0,
        "feature.alcohol.effect": effect,
        "feature.alcohol.missing_delta": 0.04 if shifted else 0.0,
        "feature.hue.drifted": 0.0,
        "feature.hue.effect": 0.03,
        "feature.hue.missing_delta": 0.0,
        "prediction.drifted": 0.0,
        "prediction.effect": 0.04,
    }
    if i >= 20:
        signals |= {"quality.labels": 40.0, "quality.accuracy": 0.81, "quality.auc": 0.86}
    feature = {
        "name": "alcohol",
        "kind": "numeric",
        "drifted": shifted,
        "severity": "critical" if shifted else "none",
        "signals": [{"signal": "distribution", "min_effect": 0.12, "threshold": None}],
    }
    plot = {"labels": ["0", "1", "2"], "ref": [0.3, 0.4, 0.3], "cur": [0.2, 0.5, 0.3]}
    return {
        "signals": signals,
        "drift": {"features": [feature], "prediction": {"name": "prediction", "plot": plot}},
    }


def _fill(reg: Registry, mv: ModelVersion) -> dict[str, int]:
    """Windows around now (the deployment and a new dataset version fall inside them), two
    alerts, a playbook action caused by one, two review items and a rollout."""
    start = dt.datetime.now(dt.UTC) - DRIFT_FROM * WIDTH
    ws = WindowStore(reg.store)
    for i in range(N_WINDOWS):
        at = start + i * WIDTH
        ws.put_result("wine", mv.id, at, at + WIDTH, 200, _summary(i))
    alerts = AlertStore(reg.store)
    with reg.store.tx() as conn:
        drift = alerts.open_alert(
            conn,
            "wine",
            "alcohol-drift",
            "critical",
            0.35,
            "feature.alcohol.effect 0.35 > 0.2",
            {"signal": "feature.alcohol.effect"},
        )
        slow = alerts.open_alert(
            conn, "wine", "slow", "warning", 12.0, "latency.p99_ms 12 > 10", {}
        )
    PlaybookStore(reg.store).record(
        playbook="drift-retrain",
        endpoint="wine",
        action="retrain",
        status="done",
        dry_run=False,
        alert_id=drift,
        details={"candidate": "wine@2"},
        actor="playbook",
        reason="alcohol drifted",
    )
    queued = FeedbackStore(reg.store).enqueue(
        [
            {
                "prediction_id": f"pred-{k}",
                "endpoint": "wine",
                "version_id": mv.id,
                "predicted_at": dt.datetime.now(dt.UTC),
                "input": [{"alcohol": 13.2 + k, "hue": 1.04}],
                "output": {"predict": [k]},
                "score": 0.51 + k / 100,
                "reason": "low-confidence",
            }
            for k in (0, 1)
        ],
        max_pending=10,
    )
    assert queued == 2
    rid = RolloutStore(reg.store).create(
        {
            "endpoint": "wine",
            "candidate_id": mv.id,
            "baseline_id": None,
            "strategy": {"steps": [0.25, 0.5, 1.0]},
        },
        "tester",
        "canary",
    )
    analysis = {
        "kind": "analysis",
        "decision": "promote",
        "step": 0,
        "weight": 0.25,
        "figures": {
            "canary_requests": 412.0,
            "canary_error_rate": 0.0024,
            "champion_error_rate": 0.002,
            "canary_p99_ms": 11.5,
            "champion_p99_ms": 9.75,
        },
        "reasons": [],
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
    RolloutStore(reg.store).save(rid, "controller", None, "", history=[analysis])
    return {"drift": drift, "slow": slow}


@pytest.fixture
def site(registry: Registry) -> tuple[Registry, dict[str, int]]:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    ds = registry.add_dataset(X.assign(target=y), name="wine")
    with registry.start_run(model="wine", params={"depth": 2}) as run:
        run.use_dataset(ds)
        mv = run.log_model(DecisionTreeClassifier(max_depth=2).fit(X, y), sample_input=X.head())
    registry.transition(mv, "validated", reason="gates passed")
    registry.transition(mv, "approved", reason="reviewed")
    registry.deploy(mv, "wine", reason="first release")
    registry.add_dataset(X.assign(target=y).iloc[:120], name="wine")  # a new data version
    return registry, _fill(registry, mv)


def _client(reg: Registry, local: bool = True) -> TestClient:
    return ui.client(reg, local)


def _svg(html: str, series: str) -> ET.Element:
    found = re.search(rf'<svg[^>]*data-series="{re.escape(series)}".*?</svg>', html, re.S)
    assert found, f"no chart of {series}"
    return ET.fromstring(found.group(0))


def test_monitoring_page_charts_drift_per_feature_with_its_cause_marked(site: Any) -> None:
    reg, _ = site
    with _client(reg) as client:
        page = client.get("/ui/monitoring/wine")
    assert page.status_code == 200, page.text
    html = page.text
    effect = _svg(html, "feature.alcohol.effect")
    flags = effect.findall(f".//{SVG}circle[@class='flag']")
    assert len(flags) == N_WINDOWS - DRIFT_FROM, "each drifted window is marked"
    assert "drifts at 0.12" in html, "the threshold is the deciding effect from the detail"
    kinds = {m.get("class") for m in effect.findall(f".//{SVG}g")} - {None}
    assert {"marker marker-deploy", "marker marker-data"} <= kinds
    titles = [t.text or "" for t in effect.iter(f"{SVG}title")]
    assert any("wine@1 production 100%" in t and "first release" in t for t in titles)
    assert any("dataset wine@2 registered" in t for t in titles)
    hue = _svg(html, "feature.hue.effect")
    assert hue.findall(f".//{SVG}circle[@class='flag']") == []
    assert html.index('data-feature="alcohol"') < html.index('data-feature="hue"'), (
        "the drifted feature comes first"
    )
    for key in (
        "drift.share",
        "feature.missing_delta",
        "prediction.effect",
        "prediction.distribution",
        "requests",
        "error_rate",
        "latency",
        "quality.accuracy",
        "quality.auc",
        "quality.labels",
    ):
        assert int(_svg(html, key).get("data-points") or 0) > 0, key
    assert re.search(r"alcohol-drift.*?critical.*?firing", html, re.S)
    assert re.search(r"drift-retrain.*?retrain.*?done.*?alcohol-drift", html, re.S)
    assert "<script" not in html


def test_endpoint_page_has_live_charts_and_rollout_figures_and_catalog_drift(site: Any) -> None:
    reg, _ = site
    with _client(reg) as client:
        ep = client.get("/ui/endpoints/wine").text
        catalog = client.get("/ui/").text
        overview = client.get("/ui/monitoring").text
    assert int(_svg(ep, "latency").get("data-points") or 0) > 0
    assert _svg(ep, "requests") is not None and _svg(ep, "error_rate") is not None
    assert re.search(r"#1 wine@1.*?running.*?promote.*?412.*?0\.2%.*?11\.5 ms", ep, re.S)
    assert re.search(
        r'class="drift-status">.*?wine</a>:\s*<span class="fail">1 drifted', catalog, re.S
    )
    assert "2 firing" in catalog
    assert int(_svg(overview, "drift.share").get("data-points") or 0) == N_WINDOWS
    assert re.search(r"wine</a></td>.*?1 drifted</span>: alcohol", overview, re.S)


def test_alert_filters_and_bad_filters(site: Any) -> None:
    reg, ids = site
    with _client(reg) as client:
        crit = client.get("/ui/alerts?tier=critical&endpoint=wine").text
        assert f'data-alert="{ids["drift"]}"' in crit and f'data-alert="{ids["slow"]}"' not in crit
        none = client.get("/ui/alerts?state=resolved").text
        assert "data-alert=" not in none and "No alerts." in none
        bad = client.get("/ui/alerts?tier=severe")
        assert bad.status_code == 422 and "unknown alert tier 'severe'" in unescape(bad.text)
        bad = client.get("/ui/alerts?state=sleeping")
        assert bad.status_code == 422 and "unknown alert state" in unescape(bad.text)
        recent = client.get("/ui/monitoring/wine?hours=0.15").text  # 9 minutes back
        assert _svg(recent, "drift.share").get("data-points") == str(N_WINDOWS - 10)
        bad = client.get("/ui/monitoring/wine?hours=soon")
        assert bad.status_code == 422 and "hours must be a number" in unescape(bad.text)
        missing = client.get("/ui/monitoring/nowhere")
        assert missing.status_code == 404 and "no endpoint 'nowhere'" in unescape(missing.text)


def _as(reg: Registry, role: str) -> TestClient:
    secret = tokens.create(reg.store, f"{role}-1", role, "admin").secret
    client = _client(reg, local=False)
    client.headers["authorization"] = f"Bearer {secret}"
    return client


def test_a_viewer_sees_the_pages_but_no_forms_and_cannot_post(site: Any) -> None:
    reg, ids = site
    with _as(reg, "viewer") as client:
        for path in ("/ui/monitoring", "/ui/monitoring/wine", "/ui/alerts", "/ui/review"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert '<form method="post"' not in page.text, path
        assert "pred-0"[:6] in client.get("/ui/review").text
        denied = client.post(f"/ui/alerts/{ids['drift']}/ack", data={"reason": "mine"})
        assert denied.status_code == 403 and "deploy" in unescape(denied.text)
        denied = client.post("/ui/review/1", data={"decision": "confirm"})
        assert denied.status_code == 403 and "feedback" in unescape(denied.text)
    assert AlertStore(reg.store).get(ids["drift"]).state == "firing"
    assert len(FeedbackStore(reg.store).review_items("wine")) == 2


def test_a_deployer_acknowledges_an_alert_in_one_click(site: Any) -> None:
    reg, ids = site
    with _as(reg, "deployer") as client:
        page = client.get("/ui/alerts").text
        assert page.count('class="ack-form"') == 2
        assert 'class="confirm-form"' not in client.get("/ui/review").text, "no feedback right"
        empty = client.post(f"/ui/alerts/{ids['drift']}/ack", data={"reason": " "})
        assert empty.status_code == 422 and "needs a reason" in unescape(empty.text)
        done = client.post(
            f"/ui/alerts/{ids['drift']}/ack",
            data={"reason": "retraining", "next": "https://elsewhere.example/"},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/ui/alerts"
        again = client.post(f"/ui/alerts/{ids['drift']}/ack", data={"reason": "again"})
        assert again.status_code == 409 and "acknowledged" in unescape(again.text)
    row = AlertStore(reg.store).get(ids["drift"])
    assert row.state == "acknowledged" and row.acknowledged_by == "deployer-1"
    entry = reg.store.chain.entries(action="alert.acknowledge")[-1]
    assert entry.actor == "deployer-1" and entry.reason == "retraining"
    sent = AlertStore(reg.store).deliveries(alert_id=ids["drift"])
    assert [(d.event, d.status) for d in sent] == [("acknowledged", "delivered")], (
        "the sinks hear of it, as from `modelyard alerts ack`"
    )


def test_a_reviewer_confirms_or_corrects_in_one_click(site: Any) -> None:
    reg, _ = site
    fb = FeedbackStore(reg.store)
    first, second = (i.id for i in fb.review_items("wine"))
    with _as(reg, "reviewer") as client:
        page = client.get("/ui/review?endpoint=wine").text
        assert page.count('class="inline confirm-form"') == 2 and "ack-form" not in page
        assert "alcohol=13.2" in page and "low-confidence" in page and "0.510" in page
        ok = client.post(
            f"/ui/review/{first}",
            data={"decision": "confirm", "next": "/review?endpoint=wine"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/review?endpoint=wine"
        bad = client.post(f"/ui/review/{second}", data={"decision": "correct", "label": "two"})
        assert bad.status_code == 422 and "not a whole number" in unescape(bad.text)
        fixed = client.post(f"/ui/review/{second}", data={"decision": "correct", "label": "2"})
        assert fixed.status_code == 200 and "Nothing waiting for review." in fixed.text
        twice = client.post(f"/ui/review/{first}", data={"decision": "confirm"})
        assert twice.status_code == 409 and "already decided" in unescape(twice.text)
        decided = client.get("/ui/review?status=corrected").text
        assert re.search(r"2 · reviewer-1", decided)
    assert fb.get("pred-0").label == 0 and fb.get("pred-0").reviewer == "reviewer-1"
    assert fb.get("pred-1").label == 2 and fb.get("pred-1").source == "review"


def test_new_pages_link_no_external_assets(site: Any) -> None:
    reg, _ = site
    with _client(reg) as client:
        for path in ("/ui/monitoring", "/ui/monitoring/wine", "/ui/alerts", "/ui/review"):
            html = client.get(path).text
            assert not re.search(r"""(src|href)=["']https?://""", html), path


def test_pages_with_no_monitoring_data_yet_render(local_registry: Registry) -> None:
    with _client(local_registry) as client:
        for path in ("/ui/", "/ui/monitoring", "/ui/alerts", "/ui/review"):
            page = client.get(path)
            assert page.status_code == 200, path
        assert "No endpoints yet." in client.get("/ui/monitoring").text
        assert "No data yet" in client.get("/ui/monitoring").text
