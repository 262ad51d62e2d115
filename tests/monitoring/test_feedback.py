"""Feedback labels: stored per prediction id, joined to the prediction log whenever they come,
ingested through the API and from files, and exported as a dataset version for retraining."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from starlette.testclient import TestClient

from modelyard.core.errors import InvalidInput, NotFound
from modelyard.core.feedback_records import Label
from modelyard.monitoring.feedback import add_labels, label_of
from modelyard.monitoring.quality import window_quality
from modelyard.orchestration.feedback import export_feedback, join_feedback
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.security import tokens
from modelyard.store.feedback import FeedbackStore
from modelyard.web.api import PREFIX, management_app
from tests.monitoring.feedback_support import (
    Ran,
    arrests_project,
    predict,
    records,
    run_cli,
    serving,
)
from tests.support.servers import MODELYARD, ROOT, served


def test_labels_before_and_after_the_prediction_is_logged_join_to_its_version_and_window(
    arrests: tuple[Registry, ModelVersion, pd.DataFrame],
) -> None:
    reg, mv, ev = arrests
    rows = records(ev.head(2))
    with serving(reg, mv) as client:  # the log flushes only when the server stops
        early = predict(client, rows[:1])
        add_labels(reg, [Label(early, "Yes")], "api", "tester")
        assert join_feedback(reg) == 0  # not in the log yet: kept, not lost
        assert label_of(reg, early).version_id is None
    assert join_feedback(reg) == 1
    between = dt.datetime.now(dt.UTC)
    with serving(reg, mv) as client:
        late = predict(client, rows[1:2])
    add_labels(
        reg, [Label(late, "No")], "file", "tester"
    )  # arrives after the prediction was logged
    assert join_feedback(reg) == 1
    assert join_feedback(reg) == 0  # nothing left to join

    first, second = label_of(reg, early), label_of(reg, late)
    assert first.version_id == second.version_id == mv.id
    assert first.endpoint == "arrests" and first.input == rows[:1]
    assert first.predicted_at and second.predicted_at
    assert first.predicted_at < between <= second.predicted_at
    assert set(first.output) == {"predict"} and len(first.output["predict"]) == 1
    # each label counts in the window of its prediction, not of its arrival
    assert window_quality(reg, "arrests", mv.id, None, between)["labels"] == 1
    assert window_quality(reg, "arrests", mv.id, between, None)["labels"] == 1
    assert window_quality(reg, "arrests", mv.id + 1000, None, None) == {}


def test_a_later_label_replaces_the_earlier_one_and_the_replacement_is_audited(
    registry: Registry,
) -> None:
    first = add_labels(registry, [Label("p-1", "No"), Label("p-2", 1)], "api", "alice")
    assert (first.received, first.new, first.replaced) == (2, 2, 0)
    again = add_labels(registry, [Label("p-1", "Yes")], "file", "bob")
    assert (again.new, again.replaced) == (0, 1)
    assert add_labels(registry, [Label("p-1", "Yes")], "api", "carol").unchanged == 1
    row = label_of(registry, "p-1")
    assert row.label == "Yes" and row.source == "file"
    [entry] = registry.store.chain.entries(action="feedback.replace")
    assert entry.actor == "bob" and entry.target == "prediction:p-1"
    assert entry.data["old"] == "No" and entry.data["new"] == "Yes"
    assert len(FeedbackStore(registry.store).unjoined()) == 2


def test_labels_that_are_not_scalars_or_lack_an_id_are_refused_naming_the_item(
    registry: Registry,
) -> None:
    with pytest.raises(InvalidInput, match=r"label #1 \(p-2\): label must be"):
        add_labels(registry, [Label("p-1", "Yes"), Label("p-2", {"a": 1})], "api", "x")
    with pytest.raises(InvalidInput, match="label #0: prediction_id must be"):
        add_labels(registry, [Label("", "Yes")], "api", "x")
    with pytest.raises(NotFound):  # nothing of a refused batch is kept
        label_of(registry, "p-1")


@pytest.fixture
def api(local_registry: Registry) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    heads = {
        role: {
            "Authorization": "Bearer "
            + tokens.create(local_registry.store, f"t-{role}", role, "admin").secret
        }
        for role in ("viewer", "data-scientist", "reviewer", "deployer")
    }
    with TestClient(management_app(local_registry)) as client:
        yield client, heads


def test_feedback_posted_to_the_api_is_stored_and_bad_requests_are_4xx_naming_the_problem(
    api: tuple[TestClient, dict[str, dict[str, str]]], local_registry: Registry
) -> None:
    client, heads = api
    url = PREFIX + "/feedback"
    ok = client.post(url, headers=heads["reviewer"], json={"prediction_id": "a-1", "label": 1})
    assert ok.status_code == 200 and ok.json()["new"] == 1
    batch = {
        "labels": [{"prediction_id": "a-2", "label": "Yes"}, {"prediction_id": "a-1", "label": 0}]
    }
    r = client.post(url, headers=heads["data-scientist"], json=batch)
    assert r.json() == {"received": 2, "new": 1, "replaced": 1, "unchanged": 0}
    r = client.post(url, headers=heads["data-scientist"], json=batch)  # a retried request
    assert r.json() == {"received": 2, "new": 0, "replaced": 0, "unchanged": 2}
    assert label_of(local_registry, "a-1").label == 0

    bad = {
        "labels[1]: expected an object": {"labels": [{"prediction_id": "b", "label": 1}, 7]},
        "labels[0] (b): label must be": {"labels": [{"prediction_id": "b", "label": None}]},
        "the body: prediction_id must be": {"prediction_id": 12, "label": 1},
        "'labels' must be a non-empty list": {"labels": []},
        "expected {": {"label": 1},
    }
    for message, body in bad.items():
        r = client.post(url, headers=heads["reviewer"], json=body)
        assert r.status_code == 422, (body, r.text)
        assert message in r.json()["error"], (message, r.json())
    assert client.post(url, json={"prediction_id": "c", "label": 1}).status_code == 401
    r = client.post(url, headers=heads["viewer"], json={"prediction_id": "c", "label": 1})
    assert r.status_code == 403 and "'feedback' permission" in r.json()["error"]
    r = client.post(url, headers=heads["deployer"], json={"prediction_id": "c", "label": 1})
    assert r.status_code == 403


def test_feedback_files_report_received_joined_and_unknown_and_bad_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, mv, ev = arrests_project(tmp_path / "p")
    with serving(reg, mv) as client:
        ids = [predict(client, [r]) for r in records(ev.head(3))]
    root = tmp_path / "p"
    labels = pd.DataFrame({"pid": [*ids, "never-served"], "released": ["Yes", "No", "Yes", "No"]})
    labels.to_csv(tmp_path / "labels.csv", index=False)

    def cli(*args: str) -> Ran:
        return run_cli(capsys, monkeypatch, "feedback", *args, "-p", str(root))

    out = cli(
        str(tmp_path / "labels.csv"), "--id-column", "pid", "--label-column", "released", "--json"
    )
    assert out.returncode == 0, out.stderr
    counts = {"received": 4, "new": 4, "replaced": 0, "unchanged": 0, "joined": 3, "unknown": 1}
    assert json.loads(out.stdout) == counts
    labels.rename(columns={"pid": "prediction_id", "released": "label"}).head(1).assign(
        label="No"
    ).to_parquet(tmp_path / "again.parquet")
    out = cli(str(tmp_path / "again.parquet"))
    assert out.returncode == 0 and "received 1 labels (1 replaced" in out.stdout, out.stdout
    (tmp_path / "more.jsonl").write_text(json.dumps({"prediction_id": ids[1], "label": "Yes"}))
    out = run_cli(
        capsys, monkeypatch, "feedback", "add", str(tmp_path / "more.jsonl"), "-p", str(root)
    )
    assert out.returncode == 0 and "joined 1; unknown 0" in out.stdout, out.stdout
    assert label_of(reg, ids[1]).label == "Yes"

    (tmp_path / "broken.jsonl").write_text('{"prediction_id": "x", "label": 1}\n{oops\n')
    (tmp_path / "nolabel.csv").write_text("prediction_id,verdict\nx,1\n")
    (tmp_path / "list.jsonl").write_text('{"prediction_id": "x", "label": {"a": 1}}\n')
    for name, message in (
        ("broken.jsonl", "broken.jsonl line 2 is not JSON"),
        ("nolabel.csv", "nolabel.csv has no column 'label'"),
        ("list.jsonl", "list.jsonl row 1: label must be"),
        ("labels.txt", "no such file"),
    ):
        out = cli(str(tmp_path / name))
        assert out.returncode in (1, 2) and message in out.stderr, (name, out.stderr)
        assert "Traceback" not in out.stderr
    reg.close()


def test_export_registers_a_dataset_version_with_lineage_to_the_predictions(
    arrests: tuple[Registry, ModelVersion, pd.DataFrame],
) -> None:
    reg, mv, ev = arrests
    rows = records(ev.head(5))
    with serving(reg, mv) as client:
        ids = [predict(client, rows[:2]), predict(client, rows[2:3]), predict(client, rows[3:5])]
    truth = ev["released"].head(5).tolist()
    add_labels(
        reg,
        [Label(ids[0], truth[:2]), Label(ids[1], truth[2]), Label(ids[2], truth[3:5])],
        "api",
        "x",
    )
    with pytest.raises(InvalidInput, match="no labelled predictions"):
        export_feedback(reg, "arrests", "arrests-labelled")  # nothing joined yet
    assert join_feedback(reg) == 3

    ds, lineage = export_feedback(reg, "arrests", "arrests-labelled", "released")
    assert ds.ref == "arrests-labelled@1" and ds.n_rows == 5
    source = json.loads(ds.source or "{}")
    assert source == lineage
    assert source["endpoint"] == "arrests" and source["versions"] == [mv.ref]
    assert source["predictions"] == 3 and source["from"] <= source["to"]
    data = reg.load_dataset(ds)
    assert sorted(data.columns) == sorted([*rows[0], "released"])
    assert sorted(data["released"]) == sorted(truth)
    assert sorted(data["age"]) == sorted(r["age"] for r in rows)


@pytest.mark.slow
def test_a_real_server_predict_then_feedback_then_join_then_quality(tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score

    reg, mv, ev = arrests_project(tmp_path / "p", flush_s=0.2)
    secret = tokens.create(reg.store, "labeller", "reviewer", "admin").secret
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODELYARD_USER": "ops"}
    with served(
        tmp_path / "p", mv.ref, "--refresh", "0.2", log=tmp_path / "server.log", env=env
    ) as (base, proc):
        rows = records(ev.head(60))
        with httpx.Client(base_url=base, timeout=30) as c:
            answers = []
            for row in rows:
                r = c.post("/v1/models/arrests:predict", json={"instances": [row]})
                assert r.status_code == 200, r.text
                answers.append(r.json())
            truth = ev["released"].head(60).tolist()
            body = {
                "labels": [
                    {"prediction_id": a["id"], "label": y}
                    for a, y in zip(answers, truth, strict=True)
                ]
            }
            head = {"Authorization": f"Bearer {secret}"}
            r = c.post(PREFIX + "/feedback", json=body, headers=head)
            assert r.status_code == 200 and r.json()["received"] == 60, r.text
            joined = 0
            for _ in range(100):  # the server flushes its log every 0.2 s
                joined += join_feedback(reg)
                if joined == 60:
                    break
                assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                time.sleep(0.1)
            assert joined == 60
            # the CLI pointed at the server goes through the same API and permission table
            remote = {**env, "MODELYARD_SERVER": base, "MODELYARD_TOKEN": secret}
            flip = "No" if truth[0] == "Yes" else "Yes"
            pd.DataFrame({"prediction_id": [answers[0]["id"]], "label": [flip]}).to_csv(
                tmp_path / "fix.csv", index=False
            )
            out = subprocess.run(
                [MODELYARD, "feedback", str(tmp_path / "fix.csv"), "--json"],
                env=remote, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert out.returncode == 0 and json.loads(out.stdout)["received"] == 1, out.stderr
            out = subprocess.run(
                [MODELYARD, "review", "list", "--json"],
                env=remote, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
            # the server composes the review queue: what it queued are answered predictions
            queued = json.loads(out.stdout)
            answered_ids = {a["id"] for a in answers}
            assert all(q["prediction_id"] in answered_ids for q in queued), queued
            assert all(q["status"] == "pending" and q["score"] < 0.6 for q in queued), queued
            truth[0] = flip
    q = window_quality(reg, "arrests", mv.id, None, None)
    predicted = [a["predictions"][0] for a in answers]
    expected = accuracy_score([int(y == "Yes") for y in truth], predicted)
    assert q["labels"] == 60 and q["accuracy"] == pytest.approx(expected)
    assert q["accuracy.sex=Male"] > 0 and "kpi" in q and "f1" in q
    reg.close()


def test_a_delayed_label_updates_the_live_quality_of_its_predictions_window(
    arrests: tuple[Registry, ModelVersion, pd.DataFrame],
) -> None:
    from functools import partial

    from modelyard.monitoring.evaluate import Monitor
    from modelyard.monitoring.live import LiveMonitor
    from modelyard.monitoring.sinks import Dispatcher
    from modelyard.orchestration.monitor_pass import run_pass
    from modelyard.store.windows import WindowStore

    reg, mv, ev = arrests
    live = LiveMonitor(reg, replica="pod-a")
    rows = records(ev.head(40))
    with serving(reg, mv, observers=[live]) as client:  # the open window is written at stop
        ids = [predict(client, [row]) for row in rows]
    monitor = Monitor(reg, quality=partial(window_quality, reg), clock=lambda: time.time() + 3600)
    dispatcher = Dispatcher(reg.store, [])
    run_pass(reg, monitor, dispatcher)  # judged before any label arrived
    [before] = WindowStore(reg.store).results(endpoint="arrests", version_id=mv.id)
    assert "quality.labels" not in before.summary["signals"]

    truth = ev.head(40)["released"].tolist()
    add_labels(
        reg, [Label(pid, y) for pid, y in zip(ids, truth, strict=True)], "file", "tester"
    )  # days later, say
    run_pass(reg, monitor, dispatcher)
    [after] = WindowStore(reg.store).results(endpoint="arrests", version_id=mv.id)
    assert after.start == before.start, "the same window, re-judged"
    assert after.summary["signals"]["quality.labels"] == 40
    assert 0.5 < after.summary["signals"]["quality.accuracy"] <= 1.0
