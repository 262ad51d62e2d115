"""The audit log is append-only in the database and tamper-evident by its hash chain."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelyard.registry.registry import Registry
from modelyard.security.audit import generate_signing_key, history, load_signing_key, verify
from modelyard.store import schema as t


def _activity(reg: Registry) -> None:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    ds = reg.add_dataset(X.assign(target=y), name="wine")
    with reg.start_run(model="wine", seed=0) as run:
        run.use_dataset(ds)
        mv = run.log_model(DecisionTreeClassifier(max_depth=2).fit(X, y), sample_input=X.head())
    reg.transition(mv, "validated", reason="gates passed")
    reg.transition(mv, "approved", reason="reviewed")
    reg.deploy(mv, "wine-prod", reason="first release")


def _unguard(reg: Registry) -> None:
    """What an attacker with the database owner's rights would do first."""
    from tests.support.audit_attacks import drop_audit_triggers

    drop_audit_triggers(reg.store.engine)


def test_every_action_is_recorded_with_actor_target_and_reason(registry: Registry) -> None:
    _activity(registry)
    actions = [e.action for e in history(registry.store)]
    assert actions[:4] == ["project.policy", "dataset.register", "run.start", "model.register"]
    for expected in ("run.finished", "model.transition", "endpoint.route"):
        assert expected in actions
    by_model = history(registry.store, model="wine")
    assert {e.target for e in by_model} == {"model:wine@1"}
    assert all(e.actor == "tester" for e in by_model)
    assert verify(registry.store).ok


def test_the_database_refuses_updates_and_deletes_of_audit_rows(registry: Registry) -> None:
    _activity(registry)
    engine = registry.store.engine
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.update(t.audit_log).values(actor="mallory"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.delete(t.audit_log))
    assert verify(registry.store).ok


def test_an_edited_entry_is_named(registry: Registry) -> None:
    _activity(registry)
    _unguard(registry)
    with registry.store.engine.begin() as conn:
        conn.execute(sa.update(t.audit_log).where(t.audit_log.c.seq == 4).values(actor="mallory"))
    result = verify(registry.store)
    assert not result.ok and result.first_bad_seq == 4 and "edited" in (result.problem or "")


def test_a_deleted_entry_is_named(registry: Registry) -> None:
    _activity(registry)
    _unguard(registry)
    with registry.store.engine.begin() as conn:
        conn.execute(sa.delete(t.audit_log).where(t.audit_log.c.seq == 3))
    result = verify(registry.store)
    assert not result.ok and result.first_bad_seq == 3 and "deleted" in (result.problem or "")


def test_reordered_entries_are_detected(registry: Registry) -> None:
    _activity(registry)
    _unguard(registry)
    with registry.store.engine.begin() as conn:
        conn.execute(sa.update(t.audit_log).where(t.audit_log.c.seq == 2).values(seq=-2))
        conn.execute(sa.update(t.audit_log).where(t.audit_log.c.seq == 3).values(seq=2))
        conn.execute(sa.update(t.audit_log).where(t.audit_log.c.seq == -2).values(seq=3))
    result = verify(registry.store)
    assert not result.ok and result.first_bad_seq == 2


def test_a_truncated_tail_is_detected(registry: Registry) -> None:
    _activity(registry)
    _unguard(registry)
    with registry.store.engine.begin() as conn:
        last = conn.execute(sa.select(sa.func.max(t.audit_log.c.seq))).scalar_one()
        conn.execute(sa.delete(t.audit_log).where(t.audit_log.c.seq >= last - 1))
    result = verify(registry.store)
    assert not result.ok and "truncated" in (result.problem or "")


def test_a_rewritten_chain_fails_signature_checks(project_dir: Path, store_url: str) -> None:
    key_file = project_dir.parent / "audit.pem"
    generate_signing_key(key_file)
    env = {"MODELYARD_STORE_URL": store_url, "MODELYARD_AUDIT_KEY_FILE": str(key_file)}
    with Registry.init(project_dir, env=env, identity="os") as reg:
        _activity(reg)
        public = load_signing_key(key_file).public_key()
        assert verify(reg.store, public).ok
        # an attacker recomputes a consistent chain after editing entry 1, without the key
        _unguard(reg)
        from modelyard.core.audit import entry_hash

        rows, _ = reg.store.chain.read()
        prev = "0" * 64
        with reg.store.engine.begin() as conn:
            for r in rows:
                actor = "mallory" if r["seq"] == 1 else r["actor"]
                h = entry_hash(
                    r["seq"], r["at"], actor, r["action"], r["target"], r["reason"], r["data"], prev
                )
                conn.execute(
                    sa.update(t.audit_log)
                    .where(t.audit_log.c.seq == r["seq"])
                    .values(actor=actor, prev_hash=prev, hash=h)
                )
                prev = h
            conn.execute(sa.update(t.audit_head).values(hash=prev))
        # the chain declares its key (entry 1), so even without the configured key the rewrite
        # shows; with it, a chain re-keyed by the attacker would show too
        for key in (None, public):
            result = verify(reg.store, key)
            assert not result.ok and result.first_bad_seq == 1
            assert "signature" in (result.problem or "")


def test_entries_hash_times_in_utc_regardless_of_zone() -> None:
    from modelyard.core.audit import entry_hash

    at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    local = at.astimezone(dt.timezone(dt.timedelta(hours=5)))
    args = ("a", "b", "c", "d", {"x": 1}, "0" * 64)
    assert entry_hash(1, at, *args) == entry_hash(1, local, *args)


def test_policy_changes_in_the_project_file_are_audited(project_dir: Path, store_url: str) -> None:
    env = {"MODELYARD_STORE_URL": store_url, "MODELYARD_USER": "alice"}
    Registry.init(project_dir, env=env, identity="os").close()
    Registry.open(project_dir, env=env).close()  # unchanged: nothing new
    (project_dir / "modelyard.yaml").write_text(
        "name: p\nidentity: os\ngovernance:\n  approvals: {required: 2}\n"
    )
    with Registry.open(project_dir, env={**env, "MODELYARD_USER": "mallory"}) as reg:
        changes = reg.store.chain.entries(action="project.policy")
        assert [c.reason for c in changes] == ["project file first seen", "project file changed"]
        assert changes[-1].actor == "mallory"
        assert changes[-1].data["previous"] == changes[0].data["sha256"]
        assert verify(reg.store).ok
