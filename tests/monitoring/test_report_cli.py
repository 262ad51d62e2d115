"""``modelyard monitor report``: files and registered datasets in; JSON and self-contained HTML."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.monitoring.drift import DriftSettings, compare_frames
from modelyard.monitoring.report import to_html, to_json

runner = CliRunner()


def _frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 1500
    ref = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "age": rng.integers(18, 80, n),
            "segment": rng.choice(["retail", "sme", "corp"], n),
        }
    )
    cur = ref.copy()
    cur["amount"] = rng.lognormal(3.6, 1, n)
    cur.loc[:100, "segment"] = "new-segment"
    return ref, cur


def test_report_json_and_html_are_self_contained(tmp_path: Path) -> None:
    ref, cur = _frames()
    result = compare_frames(ref, cur, DriftSettings(multivariate_sample=800))
    data = json.loads(to_json(result))
    assert data["drifted_features"] == ["amount", "segment"]
    assert data["multivariate"]["drifted"] is True
    html = to_html(result)
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert not re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)", html)
    assert "new-segment" in html and "amount" in html


def test_cli_report_on_files(tmp_path: Path) -> None:
    ref, cur = _frames()
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_parquet(tmp_path / "cur.parquet")
    out = tmp_path / "drift.html"
    res = runner.invoke(
        app,
        ["monitor", "report", str(tmp_path / "ref.csv"), str(tmp_path / "cur.parquet"),
         "--json", "--html", str(out), "--no-multivariate"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["drifted_features"] == ["amount", "segment"]
    assert out.read_text().count("<svg") == 3
    res = runner.invoke(
        app,
        ["monitor", "report", str(tmp_path / "ref.csv"), str(tmp_path / "cur.parquet"),
         "--no-multivariate", "--fail-on-drift"],
    )  # fmt: skip
    assert res.exit_code == 1 and "amount" in res.output


def test_cli_report_on_registered_datasets(project_dir: Path) -> None:
    from sklego.datasets import load_arrests

    from modelyard.registry.registry import Registry

    df = load_arrests(as_frame=True)
    env = {"MODELYARD_USER": "tester"}
    with Registry.init(project_dir, env=env, identity="os") as reg:
        early = reg.add_dataset(df[df.year <= 1998].reset_index(drop=True), name="arrests")
        late = reg.add_dataset(df[df.year >= 2001].reset_index(drop=True), name="arrests")
    res = runner.invoke(
        app,
        ["monitor", "report", early.ref, late.ref, "--project", str(project_dir), "--json",
         "--exclude", "year"],
        env=env,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert "citizen" in data["drifted_features"]
    assert {f["name"] for f in data["features"]} == set(df.columns) - {"year"}


def test_cli_report_bad_input(tmp_path: Path) -> None:
    res = runner.invoke(app, ["monitor", "report", "nope", "also-nope"])
    assert res.exit_code != 0


def test_monitor_cli_imports_stay_lazy() -> None:
    code = (
        "import sys, modelyard.cli.main; "
        "print(','.join(m for m in ('pandas', 'scipy', 'sklearn', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = [m for m in out.stdout.strip().split(",") if m]
    assert not {"scipy", "sklearn"} & set(heavy), heavy


def test_datetime_columns_report_range_and_freshness(tmp_path: Path) -> None:
    n = 2000
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(
        {"x": rng.normal(size=n), "at": pd.date_range("2024-01-01", periods=n, freq="min")}
    )
    # the current extract stops at 2024-03-01 10:00 (Paris): 39 h before the window end
    at = pd.date_range("2024-02-28", "2024-03-01 10:00", periods=n, tz="Europe/Paris")
    cur = pd.DataFrame({"x": rng.normal(size=n), "at": at})
    cur.loc[100:109, "at"] = pd.NaT
    end = dt.datetime(2024, 3, 3, tzinfo=dt.UTC)
    result = compare_frames(ref, cur, DriftSettings(multivariate=False), as_of=end)
    data = json.loads(to_json(result))
    assert "at" not in data["skipped"] and [f["name"] for f in data["features"]] == ["x"]
    (d,) = data["datetimes"]
    assert d["cur_range"] == ["2024-02-27T23:00:00+00:00", "2024-03-01T09:00:00+00:00"]
    assert d["ref_range"][1] == "2024-01-02T09:19:00+00:00"
    assert d["lag_s"] == (end - dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC)).total_seconds()
    assert (d["ref_missing"], d["cur_missing"]) == (0, 10)
    html = to_html(result)
    assert "Datetime columns" in html and "39.0 h" in html
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    res = runner.invoke(
        app,
        ["monitor", "report", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"),
         "--no-multivariate", "--as-of", "2024-03-03T00:00"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "lag 39.0 h" in res.output
    res = runner.invoke(
        app,
        ["monitor", "report", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"),
         "--as-of", "last tuesday"],
    )  # fmt: skip
    assert res.exit_code != 0
