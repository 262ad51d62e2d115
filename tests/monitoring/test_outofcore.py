"""Out-of-core monitoring: window sketches built by DuckDB from the Parquet prediction log are
exactly the sketches the live path (``WindowSketch.update_batch``) builds from the same rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from bisect import bisect_right
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from modelyard.core.endpoint_config import PredictionLogConfig
from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.outofcore import LogScan, backfill_windows, bin_sql
from modelyard.monitoring.sketch import WindowSketch
from modelyard.serving.frames import Frame
from modelyard.serving.predictor import Answer, VersionInfo
from modelyard.serving.predlog import PredictionLog
from tests.support.s3server import S3Endpoint, s3_endpoint  # noqa: F401

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
CATEGORICAL = {"colour", "sex", "employed", "citizen"}
CONFIG = PredictionLogConfig(format="parquet", input_sample=1.0)
T0 = dt.datetime(2026, 3, 1, 22, 0, tzinfo=dt.UTC).timestamp()


def _version(vid: int, ref: str) -> VersionInfo:
    name, v = ref.split("@")
    return VersionInfo(vid, name, int(v), "production", "sklearn", {})


def _arrests() -> pd.DataFrame:
    from modelyard.demo.data import arrests

    df = arrests()[FEATURES].head(600).reset_index(drop=True).copy()
    df["age"] = df["age"].astype(float)
    df.loc[5, "age"] = np.nan  # missing
    df.loc[7, "age"] = 250.0  # above the reference range
    df.loc[8, "year"] = 1900  # below it
    df.loc[11, "colour"] = "Purple"  # an unseen category
    df.loc[12, "employed"] = None  # a missing category
    return df


def _log(folder: Path, df: pd.DataFrame, preds: list[Any], versions: list[VersionInfo]) -> None:
    """Write ``df`` through the real prediction log into ``folder`` (JSONL and Parquet)."""
    _write(PredictionLog(folder / "jsonl", parquet_url=str(folder / "pq")), df, preds, versions)


def _write(
    log: PredictionLog, df: pd.DataFrame, preds: list[Any], versions: list[VersionInfo]
) -> None:
    """Requests of 1-3 rows of ``df``, 40 s apart from 22:00 on 1 March (so the log spans two
    days), alternating ``versions``, through the real prediction log; then its flush."""
    i, k = 0, 0
    while i < len(df):
        n = 1 + k % 3
        part = df.iloc[i : i + n]
        frame = Frame(
            n=len(part),
            names=tuple(FEATURES),
            columns=tuple(np.asarray(part[c].tolist(), dtype=object) for c in FEATURES),
        )
        outputs = {"predict": np.asarray(preds[i : i + n])}
        answer = Answer(outputs, versions[k % len(versions)], frame)
        log.record("arrests", CONFIG, frozenset(), f"p{k}", 0.001 * (k % 40), answer, T0 + 40 * k)
        i, k = i + n, k + 1
    asyncio.run(log.flush())


def _expected(
    df: pd.DataFrame, preds: list[Any], base: Baseline, width: float, versions: list[VersionInfo]
) -> dict[tuple[int, float], WindowSketch]:
    """What the live path counts: per (version, window), update_batch on that window's rows."""
    rows: list[tuple[int, float, int, float]] = []
    i, k = 0, 0
    while i < len(df):
        n = 1 + k % 3
        at = T0 + 40 * k
        for j in range(i, min(i + n, len(df))):
            rows.append((versions[k % len(versions)].id, at - at % width, j, 0.001 * (k % 40)))
        i, k = i + n, k + 1
    out: dict[tuple[int, float], WindowSketch] = {}
    keys = sorted({(v, w) for v, w, _, _ in rows})
    for key in keys:
        idx = [j for v, w, j, _ in rows if (v, w) == key]
        lat = [round(ms * 1000, 3) for v, w, _, ms in rows if (v, w) == key]
        sketch = base.new_window(sample_size=0)
        sketch.update_batch(
            df.iloc[idx].reset_index(drop=True),
            predictions=[preds[j] for j in idx],
            latency_ms=lat,
            n_jobs=1,
        )
        out[key] = sketch
    return out


@pytest.mark.parametrize("kind", ["numeric score", "label"])
def test_outofcore_windows_equal_the_live_sketches_of_the_same_rows(
    tmp_path: Path, kind: str
) -> None:
    df = _arrests()
    rng = np.random.default_rng(0)
    if kind == "numeric score":
        preds: list[Any] = [round(float(x), 6) for x in rng.random(len(df))]
    else:
        preds = [str(x) for x in rng.choice(["Yes", "No"], len(df))]
    base = Baseline.from_frame(
        df.iloc[100:].reset_index(drop=True),
        categorical=CATEGORICAL,
        prediction=preds[100:] if kind == "label" else rng.random(len(df) - 100),
    )
    versions = [_version(1, "arrests@1"), _version(2, "arrests@2")]
    _log(tmp_path, df, preds, versions)
    width = 1800.0
    got = backfill_windows(
        str(tmp_path / "pq"),
        "arrests",
        lambda vid, ref: base,
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 3),
        width,
    )
    want = _expected(df, preds, base, width, versions)
    assert {(w.version_id, w.start.timestamp()) for w in got} == set(want)
    for w in got:
        assert w.sketch == want[(w.version_id, w.start.timestamp())], (w.version, w.start)
        assert w.end - w.start == dt.timedelta(seconds=width)
    assert sum(w.sketch.requests for w in got) == len(df)
    unseen = sum(w.sketch.columns["colour"].counts[-1] for w in got)
    assert unseen == 1  # "Purple"


def test_the_scan_prunes_partitions_on_the_dates(tmp_path: Path) -> None:
    df = _arrests()
    preds = [0.5] * len(df)
    _log(tmp_path, df, preds, [_version(1, "arrests@1")])
    days = sorted(p.name for p in (tmp_path / "pq" / "endpoint=arrests").iterdir())
    assert days == ["date=2026-03-01", "date=2026-03-02"]
    with LogScan(str(tmp_path / "pq"), "arrests", dt.date(2026, 3, 2), dt.date(2026, 3, 3)) as s:
        assert s.files and all("date=2026-03-02" in f for f in s.files)
        (n,) = s.con.execute("SELECT count(*) FROM log").fetchone() or (0,)
    # 22:00 to 24:00 on the 1st is 180 requests of 1-3 rows; the rest falls on the 2nd
    first_day_rows = sum(1 + k % 3 for k in range(180))
    assert n == len(df) - first_day_rows
    with LogScan(str(tmp_path / "pq"), "other", dt.date(2026, 3, 1), dt.date(2026, 3, 3)) as s:
        assert s.versions() == []


def test_bin_sql_is_bisect_right_on_the_edges() -> None:
    import duckdb

    edges = [-1.5, 0.0, 0.0, 2.25, 10.0, 1e6]
    values = [-2.0, -1.5, -0.1, 0.0, 1.0, 2.25, 9.99, 10.0, 1e6, 2e6]
    con = duckdb.connect()
    got = [
        con.execute(f"SELECT {bin_sql('x', edges)} FROM (SELECT ?::DOUBLE AS x)", [v]).fetchone()
        for v in values
    ]
    assert [g[0] for g in got if g] == [bisect_right(edges, v) for v in values]


def test_monitor_backfill_stores_windows_from_the_parquet_log(tmp_path: Path) -> None:
    from modelyard.cli.main import app
    from modelyard.registry.registry import Registry
    from modelyard.store.windows import WindowStore
    from tests.serving.conftest import arrests_pipeline

    root = tmp_path / "proj"
    root.mkdir()
    (root / "modelyard.yaml").write_text(
        "name: bf\nidentity: os\nendpoints:\n  arrests:\n    prediction_log: {format: parquet}\n"
    )
    env = {"MODELYARD_USER": "tester"}
    df = _arrests().dropna()
    with Registry.init(root, env=env, identity="os") as reg:
        from modelyard.demo.data import arrests

        full = arrests()
        ds = reg.add_dataset(full, name="arrests", source="sklego")
        with reg.start_run(model="arrests", seed=0) as run:
            run.use_dataset(ds.ref, role="train")
            model = arrests_pipeline().fit(full[FEATURES], full["released"] == "Yes")
            mv = run.log_model(model, sample_input=full[FEATURES].head(20))
        preds = [bool(x) for x in model.predict(df)]
        url = reg.settings.prediction_log_url
        log_dir = Path(url).parent
        assert Path(url) == log_dir / "predictions"
        info = _version(mv.id, mv.ref)
    log = PredictionLog(tmp_path / "jsonl", parquet_url=url)
    frame = Frame(len(df), tuple(FEATURES), None, tuple(np.asarray(df[c]) for c in FEATURES))
    answer = Answer({"predict": np.asarray(preds)}, info, frame)
    log.record("arrests", CONFIG, frozenset(), "one", 0.004, answer, T0 + 5)
    asyncio.run(log.flush())
    result = CliRunner().invoke(
        app,
        [
            *["monitor", "backfill", "arrests", "--since", "2026-03-01", "--until", "2026-03-02"],
            *["--window", "1h", "-p", str(root), "--json"],
        ],
        env={**env, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["windows"] == [
        {
            "version": mv.ref,
            "start": "2026-03-01T22:00:00+00:00",
            "end": "2026-03-01T23:00:00+00:00",
            "requests": len(df),
        }
    ]
    with Registry.open(root, env) as reg:
        (stored,) = WindowStore(reg.store).windows("arrests")
        assert stored.replica == "backfill" and stored.requests == len(df)
        sketch = WindowSketch.from_json(stored.sketch)
        assert sketch.prediction is not None and sketch.prediction.n_total == len(df)
    bad = CliRunner().invoke(
        app, ["monitor", "backfill", "arrests", "--since", "March", "-p", str(root)], env=env
    )
    from modelyard.core.errors import InvalidInput

    assert isinstance(bad.exception, InvalidInput) and "YYYY-MM-DD" in str(bad.exception.hint)


@pytest.mark.s3
def test_outofcore_scans_a_log_on_s3_through_fsspec(s3_endpoint: S3Endpoint) -> None:  # noqa: F811
    import uuid

    df = _arrests()
    preds = [0.25] * len(df)
    versions = [_version(1, "arrests@1")]
    url = s3_endpoint.url(f"logs-{uuid.uuid4().hex[:8]}")
    log = PredictionLog(
        Path("/nonexistent"), parquet_url=url, storage_options=s3_endpoint.storage_options()
    )
    _write(log, df, preds, versions)
    base = Baseline.from_frame(
        df.iloc[100:].reset_index(drop=True), categorical=CATEGORICAL, prediction=preds[100:]
    )
    got = backfill_windows(
        url,
        "arrests",
        lambda vid, ref: base,
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 3),
        3600.0,
        storage_options=s3_endpoint.storage_options(),
    )
    want = _expected(df, preds, base, 3600.0, versions)
    assert {(w.version_id, w.start.timestamp()): w.sketch for w in got} == want
