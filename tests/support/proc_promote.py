"""Child process for tests/test_concurrent_promotion.py: promote versions in a tight loop.

Run as a script (``python proc_promote.py --url ... --endpoint ... --ids 1,2,3 ...``). It
opens its own MetadataStore (own engine, own connections), announces readiness by creating
``--ready``, waits until ``--go`` exists so that all children start together, then calls
``set_route(endpoint, random id, PRODUCTION)`` ``--rounds`` times (and on until
``--min-seconds`` have passed). It prints one JSON line:
how many promotions succeeded and which errors were raised (counted by kind, never hidden).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path


def main() -> int:
    started = time.monotonic()
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--ids", required=True, help="comma-separated model version ids")
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument(
        "--min-seconds",
        type=float,
        default=0.0,
        help="keep promoting past --rounds until this long has passed (a storm the parent "
        "can watch on a fast machine too)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="proc")
    ap.add_argument("--ready", type=Path, required=True)
    ap.add_argument("--go", type=Path, required=True)
    args = ap.parse_args()

    from sqlalchemy.exc import IntegrityError as SAIntegrityError
    from sqlalchemy.exc import OperationalError

    from modelyard.core.errors import Conflict
    from modelyard.core.lifecycle import Role
    from modelyard.store.metadata import MetadataStore

    rng = random.Random(args.seed)
    ids = [int(i) for i in args.ids.split(",")]
    store = MetadataStore(args.url).open(migrate_schema=False)
    store.routes.all(args.endpoint)  # open a connection before the start signal

    args.ready.touch()
    ready_after = time.monotonic() - started
    deadline = time.monotonic() + 60
    while not args.go.exists():
        if time.monotonic() > deadline:
            print(json.dumps({"error": "start signal never came"}))
            return 2
        time.sleep(0.002)

    go_at, began = time.monotonic(), time.time()
    outcome: Counter[str] = Counter()
    promoted: list[int] = []
    i = 0
    while i < args.rounds or time.monotonic() - go_at < args.min_seconds:
        i += 1
        vid = rng.choice(ids)
        try:
            store.routes.set(
                args.endpoint, vid, Role.PRODUCTION, 1.0, args.name, f"{args.name} round {i}"
            )
        except Conflict:
            outcome["conflict"] += 1  # the compare-and-set lost a race: the API says retry
        except OperationalError as exc:  # deadlock / serialisation / lock timeout: retryable
            outcome[f"retryable:{type(exc.orig).__name__}"] += 1
        except SAIntegrityError as exc:  # the unique index refused a second champion
            outcome[f"integrity:{type(exc.orig).__name__}"] += 1
        else:
            outcome["ok"] += 1
            promoted.append(vid)
    store.close()
    timing = {
        "ready_s": ready_after,
        "storm_s": time.monotonic() - go_at,
        "began": began,  # wall clock, comparable across processes
        "ended": time.time(),
    }
    print(json.dumps({"name": args.name, "outcome": outcome, "promoted": promoted, **timing}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
