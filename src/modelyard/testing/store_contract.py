"""``check_store``: the behaviour every metadata-store backend must show (SQLite, PostgreSQL),
one check per repository (``CHECKS``), each on fresh names so they share one database."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from modelyard.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from modelyard.core.lifecycle import Role, State
from modelyard.core.records import DatasetVersion, ModelVersion
from modelyard.store.metadata import MetadataStore, now


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _dataset(store: MetadataStore, name: str, digest: str) -> DatasetVersion:
    values = {
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
    return store.datasets.add(values, 10)


def _version(store: MetadataStore, model: str, run_id: str | None = None) -> ModelVersion:
    return store.versions.add(
        {
            "model_name": model,
            "run_id": run_id,
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


def _run(store: MetadataStore, model: str) -> str:
    run_id = uuid.uuid4().hex
    store.runs.create(
        {
            "id": run_id,
            "model_name": model,
            "status": "running",
            "params": {"p": 1},
            "seed": 3,
            "environment": {},
            "created_by": "contract",
            "started_at": now(),
        }
    )
    return run_id


def _approved(store: MetadataStore, model: str) -> ModelVersion:
    mv = _version(store, model)
    store.versions.transition(mv.id, State.VALIDATED, "contract", "gates")
    return store.versions.transition(mv.id, State.APPROVED, "contract", "review")


def check_datasets(store: MetadataStore) -> None:
    """Same content -> same version; new content -> the next; tags change, content never."""
    name = f"d{_tag()}"
    a = _dataset(store, name, "a" * 64)
    b = _dataset(store, name, "a" * 64)
    c = _dataset(store, name, "c" * 64)
    assert a.created and not b.created and a.id == b.id, "same content must dedupe"
    assert (a.version, c.version) == (1, 2), "versions count up from 1"
    assert store.datasets.get(name).version == 2, "no version means the latest"
    assert store.datasets.by_id(a.id) == a
    assert name in store.datasets.names()
    assert [d.version for d in store.datasets.all(name)] == [1, 2]
    store.datasets.retag(a.id, {"columns": ["x"]}, {"n": 1}, "contract", {"target": "x"})
    retagged = store.datasets.get(name, 1)
    assert retagged.schema == {"columns": ["x"]} and retagged.digest == a.digest
    try:
        store.datasets.get(name, 9)
    except NotFound:
        pass
    else:
        raise AssertionError("a missing dataset version must raise NotFound")


def check_runs(store: MetadataStore) -> None:
    """Runs: created, updated, metrics in order, inputs once, unique prefixes resolve."""
    model = f"m{_tag()}"
    ds = _dataset(store, f"d{_tag()}", "e" * 64)
    run_id = _run(store, model)
    store.runs.log_metrics(
        run_id, [{"key": "k", "value": float(i), "step": i, "at": now()} for i in range(5)]
    )
    store.runs.add_input(run_id, ds.id, "train")
    store.runs.add_input(run_id, ds.id, "train")  # idempotent
    assert [m.value for m in store.runs.metrics(run_id)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    (used,) = store.runs.inputs(run_id)
    assert (used.role, used.dataset.id) == ("train", ds.id)
    assert store.runs.get(run_id[:10]).params == {"p": 1}, "unique prefixes resolve"
    store.runs.update(run_id, status="finished", ended_at=now())
    assert store.runs.get(run_id).status == "finished"
    assert [r.id for r in store.runs.all(model)] == [run_id]
    assert [(u.role, u.run.id) for u in store.runs.using_dataset(ds.id)] == [("train", run_id)]
    try:
        store.runs.get("zz-no-such-run")
    except NotFound:
        pass
    else:
        raise AssertionError("a missing run must raise NotFound")


def check_versions(store: MetadataStore) -> None:
    """Versions count up per model, start proposed, and move only as the lifecycle allows."""
    model = f"m{_tag()}"
    run_id = _run(store, model)
    v1 = _version(store, model, run_id)
    v2 = _version(store, model)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.state == State.PROPOSED
    assert store.versions.get(model) == v2 and store.versions.by_id(v1.id) == v1
    assert [v.version for v in store.versions.all(model)] == [1, 2]
    assert [v.id for v in store.versions.of_run(run_id)] == [v1.id]
    assert model in store.versions.model_names()
    try:
        store.versions.transition(v1.id, State.DEPLOYED, "contract", "skip the gates")
    except IllegalTransition:
        pass
    else:
        raise AssertionError("proposed -> deployed must be refused")
    moved = store.versions.transition(v1.id, State.VALIDATED, "contract", "gates")
    assert moved.state == State.VALIDATED
    history = [(t.from_state, t.to_state) for t in store.versions.transitions_of(v1.id)]
    assert history == [(None, "proposed"), ("proposed", "validated")], history


def check_routes(store: MetadataStore) -> None:
    """One champion per endpoint, deployed state follows the routes, generations count up."""
    model, ep = f"m{_tag()}", f"ep{_tag()}"
    v1, v2 = _approved(store, model), _approved(store, model)
    store.routes.set(ep, v1.id, Role.PRODUCTION, 1.0, "contract", "first")
    g1 = store.routes.generation(ep)
    store.routes.set(ep, v2.id, Role.PRODUCTION, 1.0, "contract", "second")
    assert store.routes.generation(ep) > g1, "a plan change bumps the generation"
    prod = [r for r in store.routes.all(ep) if r.role == Role.PRODUCTION]
    assert [(r.model_version_id, r.ref) for r in prod] == [(v2.id, v2.ref)], "one champion"
    old = store.versions.by_id(v1.id)
    assert old.state == State.APPROVED, "the replaced champion goes back to approved"
    history = [t.to_state for t in store.versions.transitions_of(v1.id)]
    assert history == ["proposed", "validated", "approved", "deployed", "approved"], history
    try:
        store.versions.transition(v2.id, State.RETIRED, "contract", "x")
    except (IllegalTransition, Conflict):
        pass
    else:
        raise AssertionError("a serving version cannot be retired directly")
    store.routes.remove(ep, v2.id, "contract", "done")
    assert store.routes.all(ep) == [] and store.versions.by_id(v2.id).state == State.APPROVED
    gen = store.routes.set_overrides(ep, {"throttle": {"rate_per_s": 5}}, "contract", "slow")
    assert gen == store.routes.generation(ep)
    assert store.routes.overrides(ep) == {"throttle": {"rate_per_s": 5.0}}
    store.routes.set_overrides(ep, None, "contract", "clear")
    assert store.routes.overrides(ep) is None
    try:
        store.routes.set_overrides(ep, {"nope": {}}, "contract", "x")
    except InvalidInput:
        pass
    else:
        raise AssertionError("unknown override keys must be refused")


def check_reports(store: MetadataStore) -> None:
    """Reports are recorded per version in order, their artifacts indexed."""
    mv = _version(store, f"m{_tag()}")
    digest = uuid.uuid4().hex * 2
    rid = store.reports.add(
        {
            "model_version_id": mv.id,
            "kind": "gates",
            "passed": True,
            "summary": {"checks": 1},
            "artifact_digest": digest,
            "artifact_digest_size": 7,
            "created_by": "contract",
        }
    )
    (rep,) = store.reports.of(mv.id)
    assert (rep.id, rep.kind, rep.passed, rep.summary) == (rid, "gates", True, {"checks": 1})
    known = {a.digest: a for a in store.artifacts.all()}
    assert (known[digest].size_bytes, known[digest].kind) == (7, "report")


def check_audit(store: MetadataStore) -> None:
    """Every change above is in the chain, in order, and the chain reads back whole."""
    name = f"d{_tag()}"
    _dataset(store, name, "f" * 64)
    (entry,) = store.chain.entries(target_prefix=f"dataset:{name}@")
    assert entry.action == "dataset.register"
    rows, head = store.chain.read()
    assert head is not None and rows[-1]["seq"] == head["seq"]


CHECKS: dict[str, Callable[[MetadataStore], None]] = {
    "datasets": check_datasets,
    "runs": check_runs,
    "versions": check_versions,
    "routes": check_routes,
    "reports": check_reports,
    "audit": check_audit,
}


def check_store(store: MetadataStore) -> None:
    """Raise AssertionError (or the store's own error) if the store breaks the contract."""
    for check in CHECKS.values():
        check(store)
