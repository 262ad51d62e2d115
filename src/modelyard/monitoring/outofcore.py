"""Out-of-core monitoring: window sketches from months of Parquet prediction logs.

The partitioned logs (``endpoint=E/date=D/hour=H/*.parquet``, see ``store.parquet_log``) are
scanned by DuckDB with Hive partitioning, so the endpoint and date filters prune whole folders
before a file is opened. Each sketch part is one SQL aggregation on the baseline's bins, grouped
by window and version (a numeric column: a balanced ``CASE`` tree that computes
``bisect_right(edges, x)``, plus the below/above-range extremes and sums; a categorical column:
counts per distinct value; latency: counts per bucket). DuckDB keeps only the groups in memory
(windows x bins) and spills beyond ``memory_limit``; results arrive as Arrow record batches.
The sketches equal what ``WindowSketch.update_batch`` builds from the same rows.

What is counted: the rows whose input was sampled (``prediction_log.input_sample``; 1.0 gives
the whole traffic), one per predicted row, with the request's latency. The log holds answers
only, so ``errors`` is 0, and no row sample is kept (``sample_size`` 0): multivariate drift
needs live windows.

S3 is read through fsspec registered in DuckDB (DuckDB's own httpfs extension would have to
be downloaded; extension auto-install is switched off so no connection leaves for it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.layout import CategoricalSpec, ColumnSpec, NumericSpec
from modelyard.monitoring.sketch import LATENCY_BUCKETS_MS, ColumnCounts, WindowSketch, _label
from modelyard.store.parquet_log import parquet_files
from modelyard.store.prediction_log import storage_options
from modelyard.store.windows import WindowStore

if TYPE_CHECKING:
    from modelyard.core.settings import Settings
    from modelyard.registry.registry import Registry

BaselineFor = Callable[[int, str], Baseline | None]  # (version_id, MODEL@VERSION) -> baseline


def prediction_log_of(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Where the project's prediction log is and the fsspec options to read it with."""
    url = settings.prediction_log_url
    return url, storage_options(settings, url)


@dataclass(frozen=True)
class LogWindow:
    """One window of one version of an endpoint, rebuilt from the log."""

    endpoint: str
    version_id: int
    version: str
    start: dt.datetime
    end: dt.datetime
    sketch: WindowSketch

    def row(self, replica: str = "backfill") -> dict[str, Any]:
        """A ``WindowStore.put`` row."""
        return {
            "endpoint": self.endpoint,
            "version_id": self.version_id,
            "replica": replica,
            "start": self.start,
            "end": self.end,
            "requests": self.sketch.requests,
            "errors": self.sketch.errors,
            "cpu_s": None,
            "sketch": self.sketch.to_json(),
        }


def bin_sql(x: str, edges: tuple[float, ...] | list[float]) -> str:
    """SQL for ``bisect_right(edges, x)``: a balanced CASE tree (depth log2 of the bins)."""

    def rec(lo: int, hi: int) -> str:
        if lo == hi:
            return str(lo)
        mid = (lo + hi + 1) // 2  # bin >= mid  <=>  x >= edges[mid - 1]
        return (
            f"CASE WHEN {x} >= {_lit(edges[mid - 1])} THEN {rec(mid, hi)} "
            f"ELSE {rec(lo, mid - 1)} END"
        )

    return rec(0, len(edges))


def _lit(v: float) -> str:
    if math.isinf(v):
        return "'infinity'::DOUBLE" if v > 0 else "'-infinity'::DOUBLE"
    return f"{float(v)!r}::DOUBLE"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class LogScan:
    """A DuckDB view over one endpoint's Parquet log between two dates.

    ``url``: the prediction-log location (folder or ``s3://``); ``since`` inclusive, ``until``
    exclusive (dates, UTC). ``memory_limit`` bounds DuckDB (it spills to ``temp_dir``)."""

    def __init__(
        self,
        url: str,
        endpoint: str,
        since: dt.date,
        until: dt.date,
        *,
        storage_options: Mapping[str, Any] | None = None,
        memory_limit: str = "1GB",
        threads: int | None = None,
        temp_dir: str | None = None,
    ) -> None:
        import duckdb

        self.endpoint = endpoint
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET autoinstall_known_extensions = false")
        self.con.execute("SET autoload_known_extensions = false")
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if temp_dir:
            self.con.execute(f"SET temp_directory = '{temp_dir}'")
        fs, files = parquet_files(url, endpoint, storage_options, since, until)
        self.files = files
        if not files:
            self.columns: set[str] = set()
            return
        if fs is not None:
            self.con.register_filesystem(fs)
            protocol = url.split("://", 1)[0]
            files = [f if "://" in f else f"{protocol}://{f}" for f in files]
        file_list = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        self.con.execute(
            f"CREATE VIEW log AS SELECT * FROM read_parquet({file_list}, "
            "hive_partitioning = true, union_by_name = true, "
            "hive_types = {'date': DATE, 'hour': INTEGER}) "
            f"WHERE endpoint = '{endpoint.replace(chr(39), chr(39) * 2)}' "
            f"AND date >= DATE '{since.isoformat()}' AND date < DATE '{until.isoformat()}' "
            "AND sampled"
        )
        self.columns = {r[0] for r in self.con.execute("DESCRIBE log").fetchall()}

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LogScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _batches(self, sql: str, params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
        reader: Any = self.con.sql(sql, params=params or []).to_arrow_reader(65_536)
        for batch in reader:
            yield from batch.to_pylist()

    def versions(self) -> list[tuple[int, str]]:
        if not self.files:
            return []
        rows = self.con.execute(
            "SELECT DISTINCT version_id, version FROM log ORDER BY version_id"
        ).fetchall()
        return [(int(a), str(b)) for a, b in rows]

    # ---- sketches --------------------------------------------------------------------
    def windows(self, baseline_for: BaselineFor, window_s: float) -> Iterator[LogWindow]:
        """Sketches per (version, window), oldest window first within each version."""
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        for version_id, version in self.versions():
            baseline = baseline_for(version_id, version)
            if baseline is not None:
                yield from self._version(version_id, version, baseline, window_s)

    def _version(
        self, version_id: int, version: str, baseline: Baseline, window_s: float
    ) -> Iterator[LogWindow]:
        width_us = round(window_s * 1_000_000)
        w = f'(epoch_us("at") - epoch_us("at") % {width_us})'
        sketches: dict[int, WindowSketch] = {}

        def sketch(start: int) -> WindowSketch:
            found = sketches.get(start)
            if found is None:
                found = sketches[start] = baseline.new_window(sample_size=0)
            return found

        where = "WHERE version_id = ?"
        lat = bin_sql("latency_ms", LATENCY_BUCKETS_MS)
        for r in self._batches(
            f"SELECT {w} AS w, count(*) AS n, CASE WHEN latency_ms IS NULL THEN -1 "
            f"ELSE {lat} END AS b, sum(latency_ms) AS s FROM log {where} GROUP BY w, b",
            [version_id],
        ):
            s = sketch(r["w"])
            s.requests += r["n"]
            if r["b"] >= 0:
                s.latency_counts[r["b"]] += r["n"]
                s.latency_sum_ms += float(r["s"])
        for spec in baseline.layout.columns:
            self._count(spec, f"in_{spec.name}", w, where, version_id, sketch, False)
        if baseline.layout.prediction is not None:
            self._count(baseline.layout.prediction, "", w, where, version_id, sketch, True)
        for start in sorted(sketches):
            s = sketches[start]
            s._bind()
            t0 = dt.datetime.fromtimestamp(start / 1_000_000, dt.UTC)
            end = t0 + dt.timedelta(seconds=window_s)
            yield LogWindow(self.endpoint, version_id, version, t0, end, s)

    def _count(
        self,
        spec: ColumnSpec,
        column: str,
        w: str,
        where: str,
        version_id: int,
        sketch: Callable[[int], WindowSketch],
        prediction: bool,
    ) -> None:
        def counts(s: WindowSketch) -> ColumnCounts:
            out = s.prediction if prediction else s.columns[spec.name]
            assert out is not None
            return out

        if prediction:
            raw = "coalesce(label, CAST(score AS VARCHAR))"
            num = "coalesce(score, TRY_CAST(label AS DOUBLE))"
        elif column not in self.columns:  # never logged: missing in every row
            for r in self._batches(
                f"SELECT {w} AS w, count(*) AS n FROM log {where} GROUP BY w", [version_id]
            ):
                counts(sketch(r["w"])).missing += r["n"]
            return
        else:
            raw = _ident(column)
            num = f"TRY_CAST({raw} AS DOUBLE)"
        if isinstance(spec, NumericSpec):
            last = len(spec.edges)
            sql = (
                f"SELECT w, b, count(*) AS n, min(x) AS lo, max(x) AS hi, sum(x) AS s FROM ("
                f"SELECT {w} AS w, {num} AS x, CASE WHEN {raw} IS NULL THEN -1 "
                f"WHEN x IS NULL THEN -2 WHEN isnan(x) THEN -1 ELSE {bin_sql('x', spec.edges)} "
                f"END AS b FROM log {where}) GROUP BY w, b"
            )
            for r in self._batches(sql, [version_id]):
                col = counts(sketch(r["w"]))
                b, n = r["b"], r["n"]
                if b == -1:
                    col.missing += n
                elif b == -2:
                    col.invalid += n
                else:
                    col.cells[b] += n
                    if b == 0:
                        col.lo = min(col.lo, float(r["lo"]))
                        col.lo_sum += float(r["s"])
                    elif b == last:
                        col.hi = max(col.hi, float(r["hi"]))
                        col.hi_sum += float(r["s"])
            return
        assert isinstance(spec, CategoricalSpec)
        if prediction:  # labels are text; numbers keep their label ("1", not "1.0")
            sql = (
                f"SELECT {w} AS w, label AS v, score AS f, count(*) AS n FROM log {where} "
                "GROUP BY w, label, score"
            )
        else:
            sql = f"SELECT {w} AS w, {raw} AS v, NULL AS f, count(*) AS n FROM log {where} "
            sql += "GROUP BY w, v"
        per_window: dict[int, dict[str, int]] = {}
        for r in self._batches(sql, [version_id]):
            v = r["v"] if r["v"] is not None else r["f"]
            if v is None or v != v:
                counts(sketch(r["w"])).missing += r["n"]
                continue
            label = v if isinstance(v, str) else _label(v)
            labels = per_window.setdefault(r["w"], {})
            labels[label] = labels.get(label, 0) + r["n"]
        for start, labels in per_window.items():
            col = counts(sketch(start))
            unseen_bin = spec.n_bins - 1
            for label, n in labels.items():
                j = spec.index.get(label)
                if j is None:
                    col.cells[unseen_bin] += n
                    col.note_unseen(label, n)
                else:
                    col.cells[j] += n


def backfill_windows(
    url: str,
    endpoint: str,
    baseline_for: BaselineFor,
    since: dt.date,
    until: dt.date,
    window_s: float = 3600.0,
    **scan_options: Any,
) -> list[LogWindow]:
    """Every (version, window) sketch of an endpoint's Parquet log between two dates."""
    with LogScan(url, endpoint, since, until, **scan_options) as scan:
        return list(scan.windows(baseline_for, window_s))


def store_windows(reg: Registry, windows: Sequence[LogWindow], replica: str = "backfill") -> int:
    """Store rebuilt windows in the registry's store as ``replica``'s; a window it already
    stored is merged with the new one (their counts add up)."""
    return WindowStore(reg.store).put([w.row(replica) for w in windows], _merge)


def _merge(stored: str, new: str) -> str:
    return WindowSketch.from_json(stored).merge(WindowSketch.from_json(new)).to_json()
