"""One user's journey, end to end, over every cell of the matrix (see tests/journeys/__init__.py):
data → run with lineage → gate → four-eyes approval → canary on a real server → KServe V1 and
V2 → feedback → monitor pass → lineage from a prediction id → rollback → retire.

Only the documented CLI (in-process) and Python API drive it; the store is read only to check
outcomes. Every step asserts what the user would check: verdicts and figures recomputed with
scikit-learn / Fairlearn, server answers equal to the local model's, the lineage walk, the
rollback's champion."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from modelyard import Project
from tests.journeys.cases import CASES, Case
from tests.journeys.yard import (
    AUTHOR,
    KPI_MODULE,
    OPERATOR,
    REVIEWER,
    Cli,
    Yard,
    approve_as_second_identity,
    post,
    project_file,
    wait_for,
)

FULL = "journeys_full"
SMALL = 300  # rows per dataset in the default run (a third held out for evaluation)


def _params() -> list[Any]:
    out = []
    for case in CASES:
        marks = [pytest.mark.slow, pytest.mark.journeys_full]
        if case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Yard]:
    root = tmp_path_factory.mktemp("journeys")
    (root / "modelyard.yaml").write_text(project_file(CASES), encoding="utf-8")
    (root / "journey_kpi.py").write_text(KPI_MODULE, encoding="utf-8")
    Project.init(root, env={"MODELYARD_USER": AUTHOR}).close()
    y = Yard(root=root, logs=tmp_path_factory.mktemp("logs"))
    with y.stack:
        yield y


@pytest.fixture
def cli(yard: Yard, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(capsys, monkeypatch, yard.root)


# ---- helpers ----------------------------------------------------------------------------------
def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them: missing values null, datetimes ISO 8601."""
    out = []
    for row in cast("list[dict[str, Any]]", df.to_dict(orient="records")):
        clean: dict[str, Any] = {}
        for k, v in row.items():
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                clean[k] = None
            elif isinstance(v, pd.Timestamp):
                clean[k] = v.isoformat()
            elif isinstance(v, np.generic):
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out


def utc(value: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def routes(yard: Yard, endpoint: str) -> list[tuple[str, str, float]]:
    """The endpoint's plan as the store holds it (read only, to check an outcome)."""
    with Project.open(yard.root, env={"MODELYARD_USER": AUTHOR}) as project:
        plan = project.store.routes.all(endpoint)
    return sorted(
        ((f"{r.model_name}@{r.version}", r.role, r.weight) for r in plan),
        key=lambda r: r[1] != "production",
    )


def state(yard: Yard, ref: str) -> str:
    with Project.open(yard.root, env={"MODELYARD_USER": AUTHOR}) as project:
        return project.model_version(ref).state


def positive_column(case: Case, model: Any) -> int:
    classes = list(model.classes_)
    # a model trained on (target == positive_label), as XGBoost needs, has classes [0, 1]
    return classes.index(case.positive_label) if case.positive_label in classes else 1


def y_true(case: Case, frame: pd.DataFrame) -> np.ndarray:
    values: np.ndarray = (
        (frame[case.target] == case.positive_label).to_numpy(dtype=int)
        if case.positive_label is not None
        else frame[case.target].to_numpy()
    )
    return values


def run_params(spec: Any) -> dict[str, Any]:
    """JSON types of every kind, which must come back as they went in (not as their repr)."""
    return {
        "kind": spec.kind,
        "columns": list(spec.columns),
        "scaled": list(spec.numeric),
        "seeded": True,
        "limits": {"rows": 300, "share": 0.5, "cap": None},
    }


def train(
    case: Case, root: Path, which: str, train_ref: str, eval_ref: str
) -> tuple[str, Any, list[str]]:
    """A training run through the Python API, with lineage; returns (ref, model, columns)."""
    spec = case.champion if which == "champion" else case.candidate
    params = run_params(spec)
    with (
        Project.open(root, env={"MODELYARD_USER": AUTHOR}) as project,
        project.start_run(model=case.name, params=params, seed=0) as run,
    ):
        data = run.use_dataset(train_ref, role="train")
        run.use_dataset(eval_ref, role="eval")
        df = project.load_dataset(data)
        cols = run.params["columns"]  # the training code reads its columns from the params
        assert isinstance(cols, list)
        X, y = df[cols], df[case.target]
        if spec.kind == "xgboost" and case.positive_label is not None:
            y = (y == case.positive_label).astype(int)  # XGBoost wants classes 0..n-1
        model = spec.build().fit(X, y)
        version = run.log_model(model, sample_input=X.head(20))
        return version.ref, model, cols


# ---- the journey ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _params())
def test_journey(case: Case, yard: Yard, cli: Cli, request: pytest.FixtureRequest) -> None:
    rows = None if FULL in (request.config.getoption("markexpr") or "") else SMALL
    frame = case.load(rows)
    n_eval = len(frame) // 3
    ev, tr = frame.iloc[:n_eval].reset_index(drop=True), frame.iloc[n_eval:].reset_index(drop=True)
    files = yard.root / "incoming"
    files.mkdir(exist_ok=True)

    # 1. data: train/eval versions, tagged (by the project file's family entry, or after the
    #    fact with `data tag`: the digest stays the same)
    refs = {}
    for role, part in (("train", tr), ("eval", ev)):
        path = files / f"{case.name}-{role}.parquet"
        part.to_parquet(path)
        added = cli.json("data", "add", str(path), "--name", f"{case.name}-{role}")
        ref = f"{case.name}-{role}@{added['version']}"
        if case.tag_after_add:
            before = cli.json("data", "show", ref)
            assert before["schema"].get("target") in (None, ""), before["schema"]
            tagged = cli.json(
                "data", "tag", ref, "--target", case.target, "--protected", ",".join(case.protected)
            )
            assert tagged["digest"] == added["digest"]
        shown = cli.json("data", "show", ref)
        assert shown["schema"]["target"] == case.target, shown["schema"]
        protected = {c["name"] for c in shown["schema"]["columns"] if c.get("protected")}
        assert protected == set(case.protected)
        refs[role] = ref

    # 2. the champion, trained with lineage
    champ_ref, champ, champ_cols = train(case, yard.root, "champion", refs["train"], refs["eval"])

    # 3. gate with no champion: figures recomputed with scikit-learn / Fairlearn
    with Project.open(yard.root, env={"MODELYARD_USER": AUTHOR}) as project:
        evf = project.load_dataset(refs["eval"])  # the rows as registered: what the gate reads
    if case.kpi_function:
        # a check that raises is no verdict: exit 3, the version stays where it was
        (yard.root / "kpi-down").touch()
        errored = cli("gate", champ_ref, ok=False)
        assert errored.returncode == 3 and "NO VERDICT" in errored.stdout, errored.stdout
        assert state(yard, champ_ref) == "proposed"
        (yard.root / "kpi-down").unlink()
    report = cli.json("gate", champ_ref)
    assert report["outcome"] == "passed" and report["champion"] is None, report["failed_checks"]
    assert state(yard, champ_ref) == "validated"
    check_figures(case, report, champ, champ_cols, evf, champion=None)
    approve_as_second_identity(cli, champ_ref, "first release reviewed")
    deployed = cli("deploy", champ_ref, "--to", case.name, "-m", "first release", user=OPERATOR)
    assert f"{champ_ref} → {case.name} as production" in deployed.stdout

    # 4. a candidate on different columns, gated against the champion
    cand_ref, cand, cand_cols = train(case, yard.root, "candidate", refs["train"], refs["eval"])
    assert set(cand_cols) != set(champ_cols)
    report = cli.json("gate", cand_ref)
    assert report["outcome"] == "passed", [
        (c["name"], c["message"]) for c in report["checks"] if c["status"] != "pass"
    ]
    assert report["champion"] == champ_ref
    check_figures(case, report, cand, cand_cols, evf, champion=(champ, champ_cols))
    if case.kpi_function:
        # a reviewer rejects it; passing the gate again leaves it rejected (exit 4) until it is
        # reconsidered explicitly, with a reason
        cli("reject", cand_ref, "-m", "want a second look at the segments", user=REVIEWER)
        stays = cli("gate", cand_ref, ok=False)
        assert stays.returncode == 4 and "stays rejected" in stays.stderr, stays.stderr
        assert state(yard, cand_ref) == "rejected"
        cli("gate", cand_ref, "--reconsider", "--reason", "segments looked at again")
        assert state(yard, cand_ref) == "validated"
    approve_as_second_identity(cli, cand_ref, "candidate reviewed")
    canary = cli(
        "deploy",
        cand_ref,
        "--to",
        case.name,
        "--strategy",
        "canary",
        "--steps",
        "50,100",
        "--interval",
        "3600",
        user=OPERATOR,
    )
    assert f"{cand_ref} → {case.name} as canary at 50% of traffic" in canary.stdout
    assert f"{cand_ref} → {case.name} as production" not in canary.stdout, canary.stdout
    assert routes(yard, case.name) == [(champ_ref, "production", 1.0), (cand_ref, "canary", 0.5)]

    # 5. a real server: KServe V1 (labels, then probabilities) and V2 through tritonclient
    base = yard.server()
    models = {champ_ref: (champ, champ_cols), cand_ref: (cand, cand_cols)}
    feats = evf[champ_cols]  # what callers send: the champion's fields
    first = {"instances": records(feats.head(1))}
    url = f"/v1/models/{case.name}:predict"
    answer = wait_for(
        lambda: (r := post(base, url, first)).status_code not in (404, 503) and r,
        f"{case.name} served",
    )
    assert answer.status_code == 200, (answer.text, yard.log_tail())
    ids: dict[str, tuple[str, int]] = {}  # prediction id → (version, row)
    for i, row in enumerate(records(feats.head(24))):
        r = post(base, f"/v1/models/{case.name}:predict", {"instances": [row]})
        assert r.status_code == 200, (r.text, yard.log_tail())
        version = r.headers["x-model-version"]
        assert version in models, version
        model, cols = models[version]
        local = model.predict(evf.iloc[[i]][cols])
        assert r.json()["predictions"] == pytest.approx(local.tolist()), (version, row)
        ids[r.headers["x-prediction-id"]] = (version, i)
    # a canary at 50 %: both versions answer (all but certain in 24 requests), each checked
    assert {v for v, _ in ids.values()} == set(models), ids
    batch = records(feats.head(16))
    body = {"instances": batch, "parameters": {"probabilities": case.task == "classification"}}
    answered: set[str] = set()
    for _ in range(40):  # until both versions have answered the batch
        r = post(base, f"/v1/models/{case.name}:predict", body)
        assert r.status_code == 200, r.text
        version = r.headers["x-model-version"]
        if version in answered:
            continue
        answered.add(version)
        check_batch(case, r.json(), *models[version], evf)
        if answered == set(models):
            break
    assert answered == set(models)
    # V2 BYTES tensors have no null: rows with every field present
    full = evf[feats.notna().all(axis=1)].head(8)
    for pinned in (None, cand_ref):  # routed, then the canary by its version
        v2 = triton_infer(base, case.name, full, champ_cols, pinned)
        assert pinned is None or v2["version"] == pinned
        model, cols = models[v2["version"]]
        local = model.predict(full[cols]).tolist()
        if case.task == "classification":
            assert v2["predict"] == local, (v2, local)
        else:
            assert v2["predict"] == pytest.approx(local, rel=1e-9)
    for column, value in case.unseen.items():  # the input policy: unseen categories pass
        row = {**records(feats.head(1))[0], column: value}
        r = post(base, f"/v1/models/{case.name}:predict", {"instances": [row]})
        assert r.status_code == 200, r.text
        model, cols = models[r.headers["x-model-version"]]
        assert r.json()["predictions"] == pytest.approx(
            model.predict(pd.DataFrame([row]).astype(feats.dtypes.to_dict())[cols]).tolist()
        )
    extra = {**records(feats.head(1))[0], "not a column": 1}
    r = post(base, f"/v1/models/{case.name}:predict", {"instances": [extra]})
    assert r.status_code == 200, r.text  # models.NAME.inputs.extra_fields: ignore

    # 6. feedback for the scored rows, then one monitor pass
    labels = pd.DataFrame(
        {
            "prediction_id": list(ids),
            "label": [evf[case.target].iloc[i] for _, i in ids.values()],
        }
    )
    labels.to_csv(files / f"{case.name}-labels.csv", index=False)
    fed = wait_for(
        lambda: (
            (got := cli.json("feedback", "add", str(files / f"{case.name}-labels.csv")))
            and got.get("joined", got.get("matched", 0)) == len(ids)
            and got
        ),
        "labels joined to the prediction log",
        timeout_s=20,
    )
    assert fed["received"] == len(ids) and fed["unknown"] == 0

    def judged() -> list[dict[str, Any]]:
        passed = cli.json("monitor", "run", "--once")
        assert passed["leader"] is True, passed
        status = cli.json("monitor", "status", "--endpoint", case.name)
        return list(status["windows"])

    # one pass judges the windows that closed (one second, grace 0.2 s) and the server flushed
    windows = wait_for(judged, f"judged windows of {case.name}", timeout_s=20, every_s=0.5)
    assert {w["version"] for w in windows} <= set(models), windows
    assert all(w["error_rate"] == 0.0 for w in windows), windows
    assert all(w["requests"] >= 1 for w in windows), windows

    # 7. lineage from a prediction id of each version: the answer, version, run, data, label
    for version in models:
        pid, i = next((p, row) for p, (v, row) in ids.items() if v == version)
        walk_one(cli, case, pid, version, i, feats, models, refs, champ_ref, evf)

    # 8. roll back: the champion alone again, on the running server too
    back = cli("rollback", case.name, "-m", "journey over", user=OPERATOR)
    assert f"{case.name}: {cand_ref} → {champ_ref}" in back.stdout, back.stdout
    assert routes(yard, case.name) == [(champ_ref, "production", 1.0)]
    wait_for(
        lambda: all(
            post(
                base, f"/v1/models/{case.name}:predict", {"instances": records(feats.head(1))}
            ).headers.get("x-model-version")
            == champ_ref
            for _ in range(10)
        ),
        "the champion alone answers",
    )

    # 9. retire the candidate: archived, never routable again
    cli("retire", cand_ref, "-m", "lost the canary", user=OPERATOR)
    with Project.open(yard.root, env={"MODELYARD_USER": AUTHOR}) as project:
        assert project.model_version(cand_ref).state == "retired"
        assert project.model_version(champ_ref).state == "deployed"
    again = cli("deploy", cand_ref, "--to", case.name, user=OPERATOR, ok=False)
    assert again.returncode != 0 and "retired" in again.stderr


def walk_one(
    cli: Cli,
    case: Case,
    pid: str,
    version: str,
    i: int,
    feats: pd.DataFrame,
    models: dict[str, tuple[Any, list[str]]],
    refs: dict[str, str],
    champ_ref: str,
    evf: pd.DataFrame,
) -> None:
    """``modelyard lineage prediction ID --json`` for a prediction of row ``i`` by ``version``."""
    walk = cli.json("lineage", "prediction", pid, "--endpoint", case.name)
    assert walk["prediction"]["version"] == version
    assert walk["prediction"]["role"] == ("production" if version == champ_ref else "canary")
    assert walk["prediction"]["input_logged"] is True
    # the logged input: the fields the answering version reads (extra ones are dropped)
    logged, sent = walk["prediction"]["input"][0], records(feats.iloc[[i]])[0]
    assert set(logged) == set(models[version][1])
    for column in logged:
        value = sent[column]
        if pd.api.types.is_datetime64_any_dtype(feats[column]):
            assert utc(logged[column]) == utc(value), column
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert logged[column] == pytest.approx(value), column
        else:
            assert logged[column] == value, column
    assert walk["model_version"]["ref"] == version
    spec = case.champion if version == champ_ref else case.candidate
    assert walk["run"]["params"] == run_params(spec)  # lists, bools, null: not their repr
    assert {d["ref"] for d in walk["datasets"]} == {refs["train"], refs["eval"]}
    label = evf[case.target].iloc[i]
    if case.task == "regression":
        assert float(walk["feedback"]["label"]) == pytest.approx(float(label))
    else:
        assert str(walk["feedback"]["label"]) == str(label)


def check_batch(
    case: Case, body: dict[str, Any], model: Any, cols: list[str], evf: pd.DataFrame
) -> None:
    """A V1 answer for the first 16 evaluation rows: the labels, and for a classifier the
    probabilities and classes, equal to the local model's."""
    local = model.predict(evf.head(16)[cols]).tolist()
    if case.task != "classification":
        assert body["predictions"] == pytest.approx(local, rel=1e-9)
        return
    assert body["predictions"] == local
    assert body["classes"] == [c.item() if hasattr(c, "item") else c for c in model.classes_]
    proba = model.predict_proba(evf.head(16)[cols])
    if proba.dtype == np.float32:  # XGBoost: the same float32 values, in their short form
        np.testing.assert_array_equal(np.asarray(body["probabilities"], np.float32), proba)
    else:
        np.testing.assert_allclose(body["probabilities"], proba, rtol=1e-9, atol=1e-12)


def triton_infer(
    base: str, name: str, df: pd.DataFrame, cols: list[str], ref: str | None = None
) -> dict[str, Any]:
    """V2 through tritonclient: one tensor per column, BYTES for strings and datetimes; with
    ``ref``, that version of the endpoint."""
    import tritonclient.http as tc

    client = tc.InferenceServerClient(url=base.removeprefix("http://"))
    inputs = []
    for col in cols:
        series = df[col]
        if pd.api.types.is_bool_dtype(series):
            t = tc.InferInput(col, [len(df)], "BOOL")
            t.set_data_from_numpy(series.to_numpy(dtype=bool))
        elif pd.api.types.is_integer_dtype(series) and not series.isna().any():
            t = tc.InferInput(col, [len(df)], "INT64")
            t.set_data_from_numpy(series.to_numpy(dtype=np.int64))
        elif pd.api.types.is_numeric_dtype(series):
            t = tc.InferInput(col, [len(df)], "FP64")
            t.set_data_from_numpy(series.to_numpy(dtype=float, na_value=np.nan))
        else:
            t = tc.InferInput(col, [len(df)], "BYTES")
            values = series.map(lambda v: "" if v is None or v != v else str(v))
            t.set_data_from_numpy(values.to_numpy(dtype=object))
        inputs.append(t)
    version = ref.rpartition("@")[2] if ref else ""
    result = client.infer(name, inputs, model_version=version)
    response = result.get_response()
    predict = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")]
    return {
        "predict": [v.item() if isinstance(v, np.generic) else v for v in predict],
        "version": f"{name}@{response.get('model_version')}",
    }


def check_figures(
    case: Case,
    report: dict[str, Any],
    model: Any,
    cols: list[str],
    ev: pd.DataFrame,
    champion: tuple[Any, list[str]] | None,
) -> None:
    """The gate's figures, recomputed independently from the models and the evaluation rows."""
    from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score, roc_auc_score

    checks = {c["name"]: c for c in report["checks"]}
    fig = {f["name"]: f for c in report["checks"] for f in c["figures"]}
    sides = [(model, cols, "value")] + (
        [(champion[0], champion[1], "champion")] if champion else []
    )
    for m, c, key in sides:
        X = ev[c]
        if case.task == "classification":
            y = y_true(case, ev) if case.positive_label is not None else ev[case.target].to_numpy()
            p = m.predict_proba(X)[:, positive_column(case, m)]
            auc = roc_auc_score(y, p)
            assert fig["roc_auc"][key] == pytest.approx(auc, abs=1e-9), key
        else:
            r2 = r2_score(ev[case.target], m.predict(X))
            assert fig["r2"][key] == pytest.approx(r2, abs=1e-9), key
    if case.segment:
        seg = checks["segments"]["details"]["segments"][0]
        rows = ev.query(case.segment)
        assert seg["rows"] == len(rows)
        if case.task == "classification":
            pred = model.predict_proba(rows[cols])[:, positive_column(case, model)] >= 0.5
            want = accuracy_score(
                y_true(case, rows) if case.positive_label else rows[case.target], pred.astype(int)
            )
        else:
            want = mean_absolute_error(rows[case.target], model.predict(rows[cols]))
        assert seg["value"] == pytest.approx(want, abs=1e-9)
    if case.task == "classification":
        from fairlearn.metrics import MetricFrame, selection_rate

        fair = checks["fairness"]
        for attr in case.protected:
            groups = {g["group"]: g for g in fair["details"]["attributes"][attr]["groups"]}
            pred = model.predict_proba(ev[cols])[:, positive_column(case, model)] >= 0.5
            sens = ev[attr].astype(object).where(ev[attr].notna(), "(missing)")
            big = sens.map(sens.value_counts()) >= 30
            frame = MetricFrame(
                metrics=selection_rate,
                y_true=y_true(case, ev)[big.to_numpy()]
                if case.positive_label
                else ev[case.target][big],
                y_pred=pred.astype(int)[big.to_numpy()],
                sensitive_features=sens[big],
            )
            for g, rate in frame.by_group.items():
                assert groups[g]["judged"] and groups[g]["selection_rate"] == pytest.approx(rate)
            ratio = fig[f"{attr}: selection_rate ratio (min/max group)"]["value"]
            assert ratio == pytest.approx(frame.ratio(method="between_groups"), abs=1e-9)
            if case.tiny_group:
                tiny = groups[case.tiny_group]
                assert tiny["rows"] < 10 and tiny["judged"] is False
                assert fair["status"] == "warn" and case.tiny_group in fair["message"]
