"""Run Evidently's DataDriftPreset on two Parquet files; print one JSON line.

Runs inside ``benchmarks/.venvs/evidently`` (never our venv). Usage:
    python _evidently_worker.py REF.parquet CUR.parquet
Only ``Report.run`` (and turning its snapshot into a dict) is timed; reading Parquet is not.
"""

from __future__ import annotations

import json
import re
import sys
import time


def main() -> None:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref = pd.read_parquet(sys.argv[1])
    cur = pd.read_parquet(sys.argv[2])
    t0, c0 = time.perf_counter(), time.process_time()
    snapshot = Report([DataDriftPreset()]).run(reference_data=ref, current_data=cur)
    result = snapshot.dict()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    flagged, methods = [], {}
    for metric in result["metrics"]:
        name = metric["metric_name"]
        m = re.match(r"ValueDrift\(column=(.*),method=(.*),threshold=(.*)\)", name)
        if not m:
            continue
        column, method, threshold = m.group(1), m.group(2), float(m.group(3))
        value = float(metric["value"])
        drift = value < threshold if "p_value" in method else value >= threshold
        methods[column] = method
        if drift:
            flagged.append(column)
    print(
        json.dumps(
            {"seconds": elapsed, "cpu_seconds": cpu, "flagged": sorted(flagged), "methods": methods}
        )
    )


if __name__ == "__main__":
    main()
