"""Writer processes for tests/test_crash_safety.py, started from a small fork server.

Each writer loops forever: put a fresh multi-MB object into a LocalBackend ArtifactStore, then
record it with ``MetadataStore.record_artifact`` in its own transaction, the order the registry
uses (the bytes are durable before any row points at them). The test SIGKILLs it mid-loop.

Starting a fresh interpreter per writer costs about a second of imports, so this script is a
fork server: it imports once, then answers commands on stdin, one per line:

``spawn SEED``  fork a writer and print its pid; the writer creates ``READY_DIR/ready-SEED``
                just before it starts writing, so the caller can time its kill from there.
``reap PID``    wait for that writer and print how it ended (``signal N`` or ``exit N``).

Each writer opens its own engine after the fork; nothing database-related is shared.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path
from typing import NoReturn


def write_forever(args: argparse.Namespace, seed: int) -> NoReturn:
    from modelyard.store.artifacts import ArtifactStore, LocalBackend
    from modelyard.store.metadata import MetadataStore

    rng = random.Random(seed)
    artifacts = ArtifactStore(LocalBackend(args.artifacts))
    store = MetadataStore(args.url).open(migrate_schema=False)
    biggest = int(args.max_mb * 1024 * 1024)
    noise = rng.randbytes(biggest)  # random once; each object differs by its header
    (args.ready_dir / f"ready-{seed}").touch()
    n = 0
    while True:
        size = rng.randint(int(args.min_mb * 1024 * 1024), biggest)
        header = f"seed={seed} n={n} ".encode()
        put = artifacts.put(header + noise[len(header) : size])
        with store.tx() as conn:
            store.artifacts.record(conn, put.digest, put.size, "model")
        n += 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifacts", type=Path, required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--ready-dir", type=Path, required=True)
    ap.add_argument("--min-mb", type=float, default=1.0)
    ap.add_argument("--max-mb", type=float, default=3.0)
    args = ap.parse_args()

    import modelyard.store.artifacts
    import modelyard.store.metadata  # noqa: F401  (imported once, before any fork)

    print("ready", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "spawn":
            pid = os.fork()
            if pid == 0:
                try:
                    write_forever(args, int(arg))
                finally:
                    os._exit(70)  # never fall back into the server loop
            print(pid, flush=True)
        elif cmd == "reap":
            _, status = os.waitpid(int(arg), 0)
            if os.WIFSIGNALED(status):
                print(f"signal {os.WTERMSIG(status)}", flush=True)
            else:
                print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
        else:
            print(f"unknown command {line!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
