"""The human review queue: a real model's low-confidence answers are queued in the background
and confident ones are not; a person's decision becomes a label, reviewer recorded, audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from modelyard.core.errors import Conflict, InvalidInput
from modelyard.core.feedback_records import ReviewItem
from modelyard.monitoring import feedback
from modelyard.monitoring.review import ReviewQueue
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.security import tokens
from modelyard.store.feedback import FeedbackStore
from modelyard.web.api import PREFIX, management_app
from tests.monitoring.feedback_support import (
    FEATURES,
    Ran,
    arrests_project,
    predict,
    records,
    run_cli,
    serving,
)

BELOW = 0.6


def test_low_confidence_predictions_of_a_real_model_are_queued_and_confident_ones_are_not(
    arrests: tuple[Registry, ModelVersion, pd.DataFrame],
) -> None:
    reg, mv, ev = arrests
    rows = ev.head(120)
    queue = ReviewQueue(reg)
    with serving(reg, mv, observers=[queue]) as client:
        ids = [predict(client, [r]) for r in records(rows)]
    # the model scored independently: which answers were unsure?
    top = reg.load_model(mv.ref).predict_proba(rows[FEATURES]).max(axis=1)
    unsure = {pid for pid, p in zip(ids, top, strict=True) if p < BELOW}
    assert 0 < len(unsure) < len(ids)  # the data has both kinds

    items = FeedbackStore(reg.store).review_items("arrests")
    assert {i.prediction_id for i in items} == unsure
    by_id = {pid: p for pid, p in zip(ids, top, strict=True)}
    for item in items:
        assert item.reason == "low-confidence" and item.status == "pending"
        assert item.score == pytest.approx(by_id[item.prediction_id])
        assert item.version_id == mv.id and item.endpoint == "arrests"
        assert set(item.input[0]) == set(FEATURES) and item.output["predict"] in ([0], [1])
    assert queue.dropped == 0 and queue.queued == len(unsure)


def test_a_random_share_is_queued_and_each_endpoint_is_bounded_by_max_pending(
    tmp_path: Path,
) -> None:
    reg, mv, ev = arrests_project(tmp_path / "p", below=0.01, sample=0.5, max_pending=7)
    queue = ReviewQueue(reg, seed=3)
    with serving(reg, mv, observers=[queue]) as client:
        for r in records(ev.head(40)):
            predict(client, [r])
    items = FeedbackStore(reg.store).review_items("arrests")
    assert len(items) == 7 and {i.reason for i in items} == {"sampled"}
    reg.close()


def test_fields_tagged_pii_are_hashed_in_queued_inputs(tmp_path: Path) -> None:
    reg, mv, ev = arrests_project(tmp_path / "p", below=1.0, pii=("citizen",))
    queue = ReviewQueue(reg)
    with serving(reg, mv, observers=[queue]) as client:
        predict(client, records(ev.head(1)))
    [item] = FeedbackStore(reg.store).review_items()
    record = item.input[0]
    assert record["citizen"].startswith("sha256:") and record["sex"] in ("Male", "Female")
    assert record["citizen"] != ev["citizen"].iloc[0]
    reg.close()


@pytest.fixture
def decided(
    tmp_path: Path, store_url: str
) -> Iterator[tuple[Registry, TestClient, dict[str, str], list[ReviewItem]]]:
    reg, mv, ev = arrests_project(tmp_path / "p", store_url, below=0.8)
    queue = ReviewQueue(reg)
    with serving(reg, mv, observers=[queue]) as client:
        for r in records(ev.head(30)):
            predict(client, [r])
    items = FeedbackStore(reg.store).review_items("arrests")
    assert len(items) >= 2
    head = {
        role: {
            "Authorization": "Bearer " + tokens.create(reg.store, f"t-{role}", role, "admin").secret
        }
        for role in ("reviewer", "viewer")
    }
    with TestClient(management_app(reg)) as api:
        yield reg, api, head["reviewer"], items
    reg.close()


def test_a_review_decision_becomes_a_label_with_the_reviewer_recorded_and_audited(
    decided: tuple[Registry, TestClient, dict[str, str], list[ReviewItem]],
) -> None:
    reg, api, head, items = decided
    listed = api.get(PREFIX + "/review", params={"endpoint": "arrests"}, headers=head).json()
    assert [i["id"] for i in listed] == [i.id for i in items]
    first, second = items[0], items[1]
    predicted = first.output["predict"][0]
    r = api.post(PREFIX + f"/review/{first.id}", json={"decision": "confirm"}, headers=head)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["reviewer"] == "t-reviewer"
    r = api.post(
        PREFIX + f"/review/{second.id}",
        json={"decision": "correct", "label": "Yes"},
        headers=head,
    )
    assert r.status_code == 200 and r.json()["label"] == "Yes"

    fb = FeedbackStore(reg.store)
    confirmed, corrected = fb.get(str(first.prediction_id)), fb.get(str(second.prediction_id))
    assert confirmed.label == predicted and corrected.label == "Yes"
    for row, item in ((confirmed, first), (corrected, second)):
        assert row.source == "review" and row.reviewer == "t-reviewer"
        assert row.version_id == item.version_id  # joined from the queued item
        assert row.input == item.input
    actions = {e.action: e for e in reg.store.chain.entries(actor="t-reviewer")}
    assert actions["review.confirm"].data["prediction_id"] == first.prediction_id
    assert actions["review.correct"].data["label"] == "Yes"
    pending = api.get(PREFIX + "/review", headers=head).json()
    assert first.id not in [i["id"] for i in pending]
    done = api.get(PREFIX + "/review", params={"status": "all"}, headers=head).json()
    assert {i["status"] for i in done} >= {"confirmed", "corrected", "pending"}


def test_deciding_twice_is_a_conflict_and_bad_decisions_are_4xx(
    decided: tuple[Registry, TestClient, dict[str, str], list[ReviewItem]],
) -> None:
    reg, api, head, items = decided
    url = PREFIX + f"/review/{items[0].id}"
    assert api.post(url, json={"decision": "confirm"}, headers=head).status_code == 200
    r = api.post(url, json={"decision": "correct", "label": 0}, headers=head)
    assert r.status_code == 409 and "already decided (confirmed by t-reviewer)" in r.json()["error"]
    with pytest.raises(Conflict):
        feedback.decide(reg, items[0].id, "confirm", "someone")
    other = PREFIX + f"/review/{items[1].id}"
    for body, message in (
        ({"decision": "maybe"}, "decision must be 'confirm' or 'correct'"),
        ({"decision": "correct"}, "needs the right label"),
        ({"decision": "correct", "label": [{}]}, "label must be"),
        ({"decision": "confirm", "label": 1}, "'confirm' takes no label"),
    ):
        r = api.post(other, json=body, headers=head)
        assert r.status_code == 422 and message in r.json()["error"], (body, r.text)
    assert (
        api.post(PREFIX + "/review/99999", json={"decision": "confirm"}, headers=head).status_code
        == 404
    )
    assert (
        api.post(PREFIX + "/review/x", json={"decision": "confirm"}, headers=head).status_code
        == 422
    )
    r = api.get(PREFIX + "/review", params={"status": "done"}, headers=head)
    assert r.status_code == 422 and "review status must be one of" in r.json()["error"]
    with pytest.raises(InvalidInput):
        feedback.decide(reg, items[1].id, "correct", "x", float("nan"))
    assert feedback.review_item(reg, items[1].id).status == "pending"


def test_the_queue_takes_scores_from_the_answer_when_the_server_sent_them(
    tmp_path: Path,
) -> None:
    reg, mv, ev = arrests_project(tmp_path / "p", below=BELOW)
    rows = ev.head(30)
    queue = ReviewQueue(reg)
    with serving(reg, mv, observers=[queue]) as client:
        for r in records(rows):
            body = {
                "inputs": [
                    {
                        "name": k,
                        "shape": [1],
                        "datatype": "BYTES" if isinstance(v, str) else "INT64",
                        "data": [v],
                    }
                    for k, v in r.items()
                ],
                "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
            }
            resp = client.post("/v2/models/arrests/infer", json=body)
            assert resp.status_code == 200, resp.text
    assert queue._models == {}  # never loaded: the answers carried the probabilities
    top = reg.load_model(mv.ref).predict_proba(rows[FEATURES]).max(axis=1)
    items = FeedbackStore(reg.store).review_items()
    assert len(items) == int(np.sum(top < BELOW))
    reg.close()


def test_the_review_commands_list_confirm_and_correct_as_the_os_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, mv, ev = arrests_project(tmp_path / "p", below=0.8)
    with serving(reg, mv, observers=[ReviewQueue(reg)]) as client:
        for r in records(ev.head(30)):
            predict(client, [r])
    root = str(tmp_path / "p")

    def cli(*args: str) -> Ran:
        return run_cli(capsys, monkeypatch, "review", *args, "-p", root)

    listed = cli("list", "--endpoint", "arrests", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert len(items) >= 2 and all(i["status"] == "pending" for i in items)
    table = cli("list")
    assert "Review queue" in table.stdout and "reason" in table.stdout
    done = cli("confirm", str(items[0]["id"]))
    assert done.returncode == 0 and "confirmed by labeller" in done.stdout, done.stderr
    done = cli("correct", str(items[1]["id"]), "--label", "1", "--json")
    assert json.loads(done.stdout)["label"] == 1  # JSON-looking labels keep their type
    again = cli("confirm", str(items[0]["id"]))
    assert again.returncode == 1 and "already decided" in again.stderr
    missing = cli("correct", "424242", "--label", "Yes")
    assert missing.returncode == 1 and "no review item #424242" in missing.stderr
    fb = FeedbackStore(reg.store)
    assert fb.get(items[1]["prediction_id"]).reviewer == "labeller"
    assert len(json.loads(cli("list", "--json").stdout)) == len(items) - 2
    reg.close()
