"""Generated load on a real server's ``arrests`` endpoint, for the live rollout tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, cast

import httpx
import pandas as pd

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]


class Load:
    """Two client threads posting single rows until stopped; counts answers by status and
    (of the 200s) by the version that answered."""

    def __init__(self, base: str, df: pd.DataFrame) -> None:
        self.rows = cast("list[dict[str, Any]]", df[FEATURES].head(400).to_dict(orient="records"))
        self.url = f"{base}/v1/models/arrests:predict"
        self.status: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self.last = ""
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(2)]

    def _run(self, k: int) -> None:
        with httpx.Client(timeout=10) as c:
            i = k
            while not self.stop.is_set():
                r = c.post(self.url, json={"instances": [self.rows[i % len(self.rows)]]})
                self.status[r.status_code] += 1
                if r.status_code == 200:
                    self.last = r.json()["model_version"]
                    self.versions[self.last] += 1
                i += 2

    def wait_for(self, version: str, timeout_s: float = 30) -> None:
        """Until ``version`` answered 20 more requests."""
        deadline = time.monotonic() + timeout_s
        seen = self.versions[version]
        while self.versions[version] < seen + 20:
            assert time.monotonic() < deadline, f"{version} never answered: {self.versions}"
            time.sleep(0.05)

    def __enter__(self) -> Load:
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for th in self.threads:
            th.join()
