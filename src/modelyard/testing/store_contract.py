"""``check_store``: the behaviour every metadata-store backend must show (SQLite, PostgreSQL)."""

from __future__ import annotations

import uuid

from modelyard.core.errors import Conflict, IllegalTransition, NotFound
from modelyard.core.lifecycle import Role, State
from modelyard.store.metadata import MetadataStore, now


def _dataset(name: str, digest: str) -> dict[str, object]:
    return {
        "name": name,
        "digest": digest,
        "n_rows": 3,
        "n_cols": 1,
        "schema": {"columns": []},
        "profile": {},
        "artifact_digest": "0" * 64,
        "source": "contract",
        "created_by": "contract",
    }


def _version(store: MetadataStore, model: str) -> dict[str, object]:
    return store.add_model_version(
        {
            "model_name": model,
            "run_id": None,
            "artifact_digest": "1" * 64,
            "flavor": "sklearn",
            "trusted": False,
            "signature": {},
            "size_bytes": 1,
            "card": {},
            "parent_id": None,
            "created_by": "contract",
        },
        actor="contract",
        reason="contract",
    )


def check_store(store: MetadataStore) -> None:
    """Raise AssertionError (or the store's own error) if the store breaks the contract."""
    tag = uuid.uuid4().hex[:8]
    # datasets: same content -> same version; new content -> next version
    a, created_a = store.add_dataset(_dataset(f"d{tag}", "a" * 64), 10)
    b, created_b = store.add_dataset(_dataset(f"d{tag}", "a" * 64), 10)
    c, _ = store.add_dataset(_dataset(f"d{tag}", "c" * 64), 10)
    assert created_a and not created_b and a["id"] == b["id"], "same content must dedupe"
    assert (a["version"], c["version"]) == (1, 2), "versions count up from 1"
    assert store.get_dataset(f"d{tag}")["version"] == 2, "no version means the latest"
    try:
        store.get_dataset(f"d{tag}", 9)
    except NotFound:
        pass
    else:
        raise AssertionError("a missing dataset version must raise NotFound")

    # runs: create, metrics in order, inputs
    run_id = uuid.uuid4().hex
    store.create_run(
        {
            "id": run_id,
            "model_name": f"m{tag}",
            "status": "running",
            "params": {"p": 1},
            "seed": 3,
            "environment": {},
            "created_by": "contract",
            "started_at": now(),
        }
    )
    store.log_metrics(
        run_id, [{"key": "k", "value": float(i), "step": i, "at": now()} for i in range(5)]
    )
    store.add_run_input(run_id, a["id"], "train")
    store.add_run_input(run_id, a["id"], "train")  # idempotent
    assert [m["value"] for m in store.run_metrics(run_id)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(store.run_inputs(run_id)) == 1
    assert store.get_run(run_id[:10])["params"] == {"p": 1}, "unique prefixes resolve"

    # model versions and lifecycle
    v1 = _version(store, f"m{tag}")
    v2 = _version(store, f"m{tag}")
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v1["state"] == State.PROPOSED
    try:
        store.transition(int(v1["id"]), State.DEPLOYED, "contract", "skip the gates")  # type: ignore[call-overload]
    except IllegalTransition:
        pass
    else:
        raise AssertionError("proposed -> deployed must be refused")
    for vid in (v1["id"], v2["id"]):
        store.transition(vid, State.VALIDATED, "contract", "gates")  # type: ignore[arg-type]
        store.transition(vid, State.APPROVED, "contract", "review")  # type: ignore[arg-type]
    ep = f"ep{tag}"
    store.set_route(ep, v1["id"], Role.PRODUCTION, 1.0, "contract", "first")  # type: ignore[arg-type]
    g1 = store.endpoint_generation(ep)
    store.set_route(ep, v2["id"], Role.PRODUCTION, 1.0, "contract", "second")  # type: ignore[arg-type]
    assert store.endpoint_generation(ep) > g1, "a plan change bumps the generation"
    prod = [r for r in store.routes(ep) if r["role"] == Role.PRODUCTION]
    assert [r["model_version_id"] for r in prod] == [v2["id"]], "exactly one champion"
    old = store.get_model_version_by_id(v1["id"])  # type: ignore[arg-type]
    assert old["state"] == State.APPROVED, "the replaced champion goes back to approved"
    history = [t["to_state"] for t in store.transitions_of(v1["id"])]  # type: ignore[arg-type]
    assert history == ["proposed", "validated", "approved", "deployed", "approved"], history
    try:
        store.transition(v2["id"], State.RETIRED, "contract", "x")  # type: ignore[arg-type]
    except (IllegalTransition, Conflict):
        pass
    else:
        raise AssertionError("a serving version cannot be retired directly")
