"""Finding 2 of issue 14: the audit chain could be rewritten by whoever can write the database.

Each attack below is played on SQLite and on PostgreSQL by an attacker who owns the database
(and so first drops the audit triggers, except in the attacks on the triggers themselves). Each
test asserts two things: whether the chain *alone* shows the attack (``modelyard audit verify``
with no anchor configured), and that it is detected once checked against the newest checkpoint
of an anchor outside the database. ``ATTACKS`` is the table in docs/security.md ("The audit log:
what tampering is detected"); a test keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelyard.core.audit import VerifyResult
from modelyard.registry.registry import Registry
from modelyard.security import tokens
from modelyard.security.audit import generate_signing_key, load_signing_key, verify
from modelyard.store import schema as t
from tests.support.audit_attacks import (
    drop_audit_triggers,
    rechain,
    replace_chain,
    rows_and_head,
)
from tests.support.s3server import S3Endpoint, s3_endpoint  # noqa: F401

DOC = Path(__file__).parents[2] / "docs" / "security.md"


@dataclass
class Chain:
    """A project with some history, checkpointed (as `audit verify` does) to a file anchor."""

    reg: Registry
    key: Any  # the public key when signing is on
    checkpoint_seq: int
    earlier_head: dict[str, Any]  # the head as it was at entry ``earlier_head['seq']``

    @property
    def engine(self) -> sa.Engine:
        return self.reg.store.engine

    def without_anchor(self) -> VerifyResult:
        return verify(self.reg.store, self.key)

    def with_anchor(self) -> VerifyResult:
        return verify(self.reg.store, self.key, self.reg.store.chain.anchors)


def _history(reg: Registry, first: int, n: int) -> None:
    """Real governance activity: tokens created and revoked, each audited."""
    for i in range(first, first + n):
        tokens.create(reg.store, f"ci-{i}", "viewer", "alice")
        if i % 2:
            tokens.revoke(reg.store, f"ci-{i}", "alice")


def _open(project_dir: Path, store_url: str, anchor: Path, key_file: Path | None) -> Registry:
    (project_dir / "modelyard.yaml").write_text(
        f"name: tamper\nidentity: os\naudit:\n  anchors: [{anchor}]\n  checkpoint_every: 0\n"
    )
    env = {"MODELYARD_STORE_URL": store_url, "MODELYARD_USER": "alice"}
    if key_file is not None:
        env["MODELYARD_AUDIT_KEY_FILE"] = str(key_file)
    return Registry.init(project_dir, env=env, identity="os")


def _make_chain(project_dir: Path, store_url: str, signed: bool) -> Iterator[Chain]:
    key_file = None
    if signed:
        key_file = project_dir.parent / "audit.pem"
        generate_signing_key(key_file)
    reg = _open(project_dir, store_url, project_dir.parent / "anchor" / "audit.jsonl", key_file)
    _history(reg, 0, 4)
    earlier = rows_and_head(reg.store.engine)[1]
    assert earlier is not None
    _history(reg, 4, 4)
    cp = reg.store.chain.checkpoint()
    key = load_signing_key(key_file).public_key() if key_file else None
    chain = Chain(reg, key, cp.seq, earlier)
    assert chain.without_anchor().ok and chain.with_anchor().ok
    assert chain.with_anchor().checkpoint_seq == cp.seq
    yield chain
    reg.close()


@pytest.fixture
def unsigned(project_dir: Path, store_url: str) -> Iterator[Chain]:
    yield from _make_chain(project_dir, store_url, signed=False)


@pytest.fixture
def signed(project_dir: Path, store_url: str) -> Iterator[Chain]:
    yield from _make_chain(project_dir, store_url, signed=True)


# ---- the attacks ----------------------------------------------------------------------------
def edit_a_row(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    with c.engine.begin() as conn:
        conn.execute(sa.update(t.audit_log).where(t.audit_log.c.seq == 4).values(actor="mallory"))


def delete_a_row(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    with c.engine.begin() as conn:
        conn.execute(sa.delete(t.audit_log).where(t.audit_log.c.seq == 3))


def swap_two_rows(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    with c.engine.begin() as conn:
        for a, b in ((2, -2), (3, 2), (-2, 3)):
            conn.execute(sa.update(t.audit_log).where(t.audit_log.c.seq == a).values(seq=b))


def truncate_the_tail(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    with c.engine.begin() as conn:
        conn.execute(sa.delete(t.audit_log).where(t.audit_log.c.seq > c.checkpoint_seq - 2))


def truncate_and_move_the_head(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    rows, _ = rows_and_head(c.engine)
    replace_chain(c.engine, rows[:-2])


def edit_and_recompute(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    rows, _ = rows_and_head(c.engine)
    rows[3]["actor"] = "mallory"
    replace_chain(c.engine, rechain(rows))


def delete_renumber_and_recompute(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    rows, _ = rows_and_head(c.engine)
    del rows[2]
    replace_chain(c.engine, rechain(rows))


def wipe_the_log_and_head(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    replace_chain(c.engine, [])


def truncate_and_copy_an_entry_signature_into_the_head(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    rows, _ = rows_and_head(c.engine)
    kept = rows[:-2]
    last = kept[-1]
    head = {"seq": last["seq"], "hash": last["hash"], "signature": last["signature"]}
    replace_chain(c.engine, kept, head)


def recompute_without_key_or_signatures(c: Chain) -> None:
    drop_audit_triggers(c.engine)
    rows, _ = rows_and_head(c.engine)
    rows = [{**r, "signature": None} for r in rows if r["action"] != "audit.key"]
    rows[2]["actor"] = "mallory"
    replace_chain(c.engine, rechain(rows))


def truncate_and_replay_an_earlier_head(c: Chain) -> None:
    """The head's signature as it was when entry k was the newest, recorded by someone who
    could read the database then: a genuine head signature, just an old one."""
    drop_audit_triggers(c.engine)
    rows, _ = rows_and_head(c.engine)
    old = c.earlier_head
    kept = [r for r in rows if r["seq"] <= old["seq"]]
    replace_chain(c.engine, kept, {k: old[k] for k in ("seq", "hash", "signature")})


def insert_or_replace_a_row(c: Chain) -> None:
    """With the triggers in place: rewrite entry 2 in one statement."""
    rows, _ = rows_and_head(c.engine)
    r = {**rows[1], "actor": "mallory"}
    table = t.audit_log
    if c.engine.dialect.name == "sqlite":
        stmt: Any = sa.insert(table).prefix_with("OR REPLACE").values(**r)
    else:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        ins = pg_insert(table).values(**r)
        stmt = ins.on_conflict_do_update(index_elements=["seq"], set_={"actor": "mallory"})
    with c.engine.begin() as conn:
        conn.execute(stmt)


def insert_out_of_sequence(c: Chain) -> None:
    """With the triggers in place: an entry that skips ahead, or does not follow the head."""
    rows, head = rows_and_head(c.engine)
    assert head is not None
    forged = {**rows[-1], "seq": head["seq"] + 5, "actor": "mallory"}
    with c.engine.begin() as conn:
        conn.execute(sa.insert(t.audit_log).values(**forged))


def move_the_head_back(c: Chain) -> None:
    """With the triggers in place: point the head at an earlier entry (then truncate)."""
    rows, _ = rows_and_head(c.engine)
    with c.engine.begin() as conn:
        conn.execute(sa.update(t.audit_head).values(seq=rows[-3]["seq"], hash=rows[-3]["hash"]))


@dataclass(frozen=True)
class Attack:
    title: str  # as in the docs table
    play: Callable[[Chain], None]
    signing: bool
    without_anchor: bool | None  # None: the database refuses the statement itself


ATTACKS = [
    Attack("edit a row", edit_a_row, False, True),
    Attack("delete a row", delete_a_row, False, True),
    Attack("swap two rows", swap_two_rows, False, True),
    Attack("truncate the tail, head untouched", truncate_the_tail, False, True),
    Attack("truncate the tail and move the head", truncate_and_move_the_head, False, False),
    Attack("edit a row and recompute the rest of the chain", edit_and_recompute, False, False),
    Attack("delete a row, renumber and recompute", delete_renumber_and_recompute, False, False),
    Attack("wipe the log and the head", wipe_the_log_and_head, False, False),
    Attack(
        "truncate and copy the last entry's signature into the head",
        truncate_and_copy_an_entry_signature_into_the_head,
        True,
        True,
    ),
    Attack("edit a row and recompute the rest of the chain", edit_and_recompute, True, True),
    Attack("delete a row, renumber and recompute", delete_renumber_and_recompute, True, True),
    Attack(
        "recompute the chain without its key entry and signatures",
        recompute_without_key_or_signatures,
        True,
        True,
    ),
    Attack("wipe the log and the head", wipe_the_log_and_head, True, True),
    Attack(
        "truncate and replay an earlier genuine head signature",
        truncate_and_replay_an_earlier_head,
        True,
        False,
    ),
    Attack(
        "INSERT OR REPLACE of an entry (triggers in place)", insert_or_replace_a_row, False, None
    ),
    Attack("INSERT out of sequence (triggers in place)", insert_out_of_sequence, False, None),
    Attack("move the head back (triggers in place)", move_the_head_back, False, None),
]


def _id(a: Attack) -> str:
    return a.play.__name__ + ("-signed" if a.signing else "")


@pytest.mark.parametrize("attack", ATTACKS, ids=_id)
def test_each_attack_is_detected_against_the_anchor(
    attack: Attack, store_url: str, request: pytest.FixtureRequest
) -> None:
    chain: Chain = request.getfixturevalue("signed" if attack.signing else "unsigned")
    if attack.without_anchor is None:
        with pytest.raises(sa.exc.DBAPIError, match=r"append-only|audit_head"):
            attack.play(chain)
        assert chain.without_anchor().ok and chain.with_anchor().ok  # nothing was changed
        return
    attack.play(chain)
    alone = chain.without_anchor()
    assert alone.ok is (not attack.without_anchor), alone
    anchored = chain.with_anchor()
    assert not anchored.ok
    assert anchored.first_bad_seq is not None and anchored.first_bad_seq <= chain.checkpoint_seq
    assert re.search(rf"\bentr(y|ies) {anchored.first_bad_seq}\b", anchored.problem or "")
    if alone.ok:  # only the anchor shows it: the message names the checkpoint
        assert f"checkpoint {chain.checkpoint_seq}" in (anchored.problem or "")


def test_the_security_doc_table_is_this_list_of_attacks() -> None:
    text = DOC.read_text()
    section = text.split("## The audit log: what tampering is detected", 1)[1].split("\n## ")[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| Attack")
    ]
    expected = [
        [
            a.title,
            "on" if a.signing else "off",
            {None: "refused", True: "yes", False: "**no**"}[a.without_anchor],
            "refused" if a.without_anchor is None else "yes",
        ]
        for a in ATTACKS
    ]
    assert rows == expected
    n, m = len(ATTACKS), sum(a.without_anchor is not False for a in ATTACKS)
    assert f"detected {n}/{n} with an anchor, {m}/{n} without" in section


def test_entries_appended_since_the_newest_checkpoint_are_not_covered_by_it(
    unsigned: Chain,
) -> None:
    """The window an anchor leaves open, stated as a test: with signing off, a tail appended
    after the newest checkpoint can be cut (head moved) without a trace. Checkpoint often."""
    _history(unsigned.reg, 100, 2)
    truncate_and_move_the_head(unsigned)
    assert unsigned.with_anchor().ok


# ---- what makes it work ---------------------------------------------------------------------
def test_signing_switched_on_after_init_is_an_audited_entry_and_verifies_across_it(
    project_dir: Path, store_url: str
) -> None:
    anchor = project_dir.parent / "a.jsonl"
    reg = _open(project_dir, store_url, anchor, None)
    _history(reg, 0, 3)
    unsigned_checkpoint = reg.store.chain.checkpoint()
    assert unsigned_checkpoint.sig is None
    reg.close()
    key_file = project_dir.parent / "late.pem"
    generate_signing_key(key_file)
    with _open(project_dir, store_url, anchor, key_file) as reg:
        _history(reg, 3, 3)
        (declared,) = reg.store.chain.entries(action="audit.key")
        assert declared.reason == "audit signing switched on"
        assert declared.actor == "alice" and declared.data["previous"] is None
        public = load_signing_key(key_file).public_key()
        result = verify(reg.store, public, reg.store.chain.anchors)
        assert result.ok and result.signing_key == declared.data["public_key"]
        assert result.checkpoint_seq == unsigned_checkpoint.seq
        assert reg.store.chain.checkpoint().signed_by(public)
        rows, _ = rows_and_head(reg.store.engine)
        assert all(r["signature"] for r in rows if r["seq"] >= declared.seq)


def test_a_rotated_key_is_an_audited_entry_signed_by_the_old_key(
    project_dir: Path, store_url: str
) -> None:
    old_file, new_file = project_dir.parent / "old.pem", project_dir.parent / "new.pem"
    generate_signing_key(old_file)
    generate_signing_key(new_file)
    anchor = project_dir.parent / "a.jsonl"
    with _open(project_dir, store_url, anchor, old_file) as reg:
        _history(reg, 0, 2)
        reg.store.chain.checkpoint()
        new_key = load_signing_key(new_file)
        reg.store.chain.rotate_signing_key(new_key, "alice", "yearly rotation")
    with _open(project_dir, store_url, anchor, new_file) as reg:
        _history(reg, 2, 2)
        reg.store.chain.checkpoint()
        assert verify(reg.store, new_key.public_key(), reg.store.chain.anchors).ok
        old_public = load_signing_key(old_file).public_key()
        stale = verify(reg.store, old_public)
        assert not stale.ok and "not the configured key" in (stale.problem or "")
        keys = reg.store.chain.entries(action="audit.key")
        assert [k.reason for k in keys] == ["audit signing switched on", "yearly rotation"]
    # the old key alone cannot open the project to sign more entries
    from modelyard.core.errors import ConfigError

    with pytest.raises(ConfigError, match="not the chain's signing key"):
        _open(project_dir, store_url, anchor, old_file)


def test_a_signed_chain_refuses_unsigned_appends(project_dir: Path, store_url: str) -> None:
    from modelyard.core.errors import ConfigError

    key_file = project_dir.parent / "k.pem"
    generate_signing_key(key_file)
    anchor = project_dir.parent / "a.jsonl"
    _open(project_dir, store_url, anchor, key_file).close()
    with _open(project_dir, store_url, anchor, None) as reg:
        assert reg.store.chain.entries()  # reading needs no key
        with pytest.raises(ConfigError, match="no signing key is configured"):
            tokens.create(reg.store, "ci", "viewer", "alice")


def test_the_head_signature_is_not_an_entry_signature(signed: Chain) -> None:
    from modelyard.core.audit import head_message, signature_ok

    rows, head = rows_and_head(signed.engine)
    assert head is not None and head["signature"] != rows[-1]["signature"]
    assert signature_ok(signed.key, head_message(head["seq"], head["hash"]), head["signature"])
    assert not signature_ok(signed.key, head["hash"].encode(), head["signature"])


def test_a_checkpoint_is_written_every_n_entries_as_a_signed_appended_line(
    project_dir: Path, store_url: str
) -> None:
    from modelyard.core.audit import Checkpoint

    key_file = project_dir.parent / "k.pem"
    generate_signing_key(key_file)
    anchor = project_dir.parent / "anchor.jsonl"
    anchor.write_text("")  # an existing file is appended to, never truncated
    reg = _open(project_dir, store_url, anchor, key_file)
    (project_dir / "modelyard.yaml").write_text(
        f"name: tamper\nidentity: os\naudit:\n  anchors: [{anchor}]\n  checkpoint_every: 5\n"
    )
    reg.close()
    with Registry.open(
        project_dir,
        env={
            "MODELYARD_STORE_URL": store_url,
            "MODELYARD_USER": "alice",
            "MODELYARD_AUDIT_KEY_FILE": str(key_file),
        },
    ) as reg:
        _history(reg, 0, 8)
        head = rows_and_head(reg.store.engine)[1]
        assert head is not None
        lines = anchor.read_bytes().splitlines()
        cps = [Checkpoint.parse(line, "anchor") for line in lines]
        assert [cp.seq for cp in cps] == list(range(5, head["seq"] + 1, 5))
        public = load_signing_key(key_file).public_key()
        assert all(cp.signed_by(public) for cp in cps)
        rows, _ = rows_and_head(reg.store.engine)
        assert all(cp.hash == rows[cp.seq - 1]["hash"] for cp in cps)


def test_a_broken_chain_is_never_checkpointed(unsigned: Chain) -> None:
    """A checkpoint extends a verified chain: entries since the last checkpoint are verified
    first (in this process, or in a fresh one resuming from the anchor), so a rewrite is never
    vouched for. (Entries up to a checkpoint are pinned by its hash already.)"""
    from modelyard.store.audit import AuditChainBroken

    _history(unsigned.reg, 100, 2)
    anchor = Path(unsigned.reg.store.chain.anchors[0].url)
    before = anchor.read_bytes()
    drop_audit_triggers(unsigned.engine)
    edited = unsigned.checkpoint_seq + 1
    with unsigned.engine.begin() as conn:
        conn.execute(
            sa.update(t.audit_log).where(t.audit_log.c.seq == edited).values(actor="mallory")
        )
    fresh = Registry.open(unsigned.reg.settings.project_dir, env=_env(unsigned.reg))
    for store in (unsigned.reg.store, fresh.store):
        with pytest.raises(AuditChainBroken, match=f"entry {edited}"):
            store.chain.checkpoint()
    fresh.close()
    assert anchor.read_bytes() == before


def _env(reg: Registry) -> dict[str, str]:
    return {"MODELYARD_STORE_URL": reg.settings.store_url, "MODELYARD_USER": "alice"}


def test_a_forged_checkpoint_line_fails_verification(signed: Chain) -> None:
    """Someone who can append to the anchor file but holds no key cannot vouch for another
    chain: a checkpoint line without a valid signature fails verification, naming it."""
    from modelyard.core.audit import make_checkpoint

    anchor = Path(signed.reg.store.chain.anchors[0].url)
    with anchor.open("ab") as fh:
        fh.write(make_checkpoint(signed.checkpoint_seq, "f" * 64).to_line())
    result = signed.with_anchor()
    assert not result.ok
    assert f"checkpoint {signed.checkpoint_seq} ({anchor} line 2)" in (result.problem or "")
    assert "signature" in (result.problem or "")


def test_verify_on_the_command_line_names_the_checkpoint(
    unsigned: Chain, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.cli import run_main

    env = {"MODELYARD_STORE_URL": unsigned.reg.settings.store_url, "MODELYARD_USER": "alice"}
    project = str(unsigned.reg.settings.project_dir)
    ok = run_main(capsys, monkeypatch, "audit", "verify", "--project", project, env=env)
    assert ok.returncode == 0 and f"matches checkpoint {unsigned.checkpoint_seq}" in ok.stdout
    wipe_the_log_and_head(unsigned)
    bad = run_main(capsys, monkeypatch, "audit", "verify", "--project", project, env=env)
    assert bad.returncode == 1
    assert f"checkpoint {unsigned.checkpoint_seq}" in bad.stdout
    assert "were removed" in bad.stdout


# ---- the object-store anchor and least privilege on PostgreSQL ------------------------------
@pytest.mark.s3
def test_an_s3_anchor_keeps_one_object_per_checkpoint_never_overwritten(
    project_dir: Path,
    s3_endpoint: S3Endpoint,  # noqa: F811
) -> None:
    import uuid

    import s3fs

    prefix = f"audit-{uuid.uuid4().hex[:8]}"
    (project_dir / "modelyard.yaml").write_text(
        "name: s3anchor\nidentity: os\n"
        f"audit:\n  anchors: [{s3_endpoint.url(prefix)}]\n  checkpoint_every: 0\n"
    )
    env = {
        "MODELYARD_USER": "alice",
        "MODELYARD_S3_ENDPOINT_URL": s3_endpoint.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
    }
    fs = s3fs.S3FileSystem(**s3_endpoint.storage_options())
    base = f"{s3_endpoint.bucket}/{prefix}"
    with Registry.init(project_dir, env=env, identity="os") as reg:
        _history(reg, 0, 3)
        first = reg.store.chain.checkpoint()
        (obj,) = fs.ls(base, refresh=True)
        stamp = fs.info(obj)["LastModified"]
        assert reg.store.chain.checkpoint().seq == first.seq  # same head: the object is kept as is
        assert fs.ls(base, refresh=True) == [obj] and fs.info(obj)["LastModified"] == stamp
        _history(reg, 3, 2)
        second = reg.store.chain.checkpoint()
        names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(base, refresh=True))
        assert names == [f"{cp.seq:012d}-{cp.hash}.json" for cp in (first, second)]
        assert verify(reg.store, None, reg.store.chain.anchors).checkpoint_seq == second.seq
        wipe_the_log_and_head(Chain(reg, None, second.seq, {}))
        assert verify(reg.store).ok  # the database alone cannot tell
        result = verify(reg.store, None, reg.store.chain.anchors)
        assert not result.ok and f"checkpoint {second.seq}" in (result.problem or "")
        assert s3_endpoint.url(prefix) in (result.problem or "")


@pytest.mark.postgres
def test_the_application_role_on_postgresql_can_only_read_and_append_the_log(
    project_dir: Path,
    pg_schema_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid

    import psycopg

    from tests.conftest import PG_URL
    from tests.support.cli import run_main

    role = f"my_app_{uuid.uuid4().hex[:8]}"
    owner_env = {"MODELYARD_STORE_URL": pg_schema_url, "MODELYARD_USER": "owner"}
    Registry.init(project_dir, env=owner_env, identity="os").close()
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        ran = run_main(
            capsys, monkeypatch, "audit", "grants", role, "--apply",
            "--project", str(project_dir), env=owner_env,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "GRANT SELECT, INSERT ON" in ran.stdout and "audit_log TO" in ran.stdout
        app_url = pg_schema_url.replace("://postgres@", f"://{role}@", 1)
        with Registry.open(project_dir, env={**owner_env, "MODELYARD_STORE_URL": app_url}) as reg:
            _history(reg, 0, 2)  # the application works as this role, audit entries included
            assert verify(reg.store).ok
            attempts = {
                "UPDATE audit_log SET actor = 'mallory'": "permission denied",
                "DELETE FROM audit_log": "permission denied",
                "TRUNCATE audit_log": "permission denied",
                "DELETE FROM audit_head": "permission denied",
                "DROP TRIGGER audit_log_append_only ON audit_log": "must be (the )?owner",
                "ALTER TABLE audit_log DISABLE TRIGGER ALL": "must be (the )?owner",
                "UPDATE audit_head SET seq = seq - 1": "moves forward only",
                "UPDATE alembic_version SET version_num = '0001'": "permission denied",
            }
            for statement, refusal in attempts.items():
                with pytest.raises(sa.exc.DBAPIError, match=refusal), reg.store.engine.begin() as c:
                    c.exec_driver_sql(statement)
            assert verify(reg.store).ok
    finally:
        with psycopg.connect(pg_schema_url.split("?")[0], autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_every_monitor_pass_checkpoints_the_chain(unsigned: Chain) -> None:
    from modelyard.monitoring.evaluate import Monitor
    from modelyard.monitoring.sinks import Dispatcher
    from modelyard.orchestration.monitor_pass import run_pass

    reg = unsigned.reg
    _history(reg, 100, 1)
    head = rows_and_head(unsigned.engine)[1]
    assert head is not None and head["seq"] > unsigned.checkpoint_seq
    run_pass(reg, Monitor(reg), Dispatcher(reg.store, []))
    newest = reg.store.chain.anchors[0].newest()
    assert [(cp.seq, cp.hash) for cp in newest] == [(head["seq"], head["hash"])]


def test_rotating_the_key_and_checkpointing_from_the_command_line(
    project_dir: Path,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.cli import run_main

    old_file, new_file = project_dir.parent / "old.pem", project_dir.parent / "new.pem"
    anchor = project_dir.parent / "a.jsonl"
    env = {"MODELYARD_STORE_URL": store_url, "MODELYARD_USER": "alice"}
    project = ("--project", str(project_dir))

    def cli(*args: str, key: Path) -> Any:
        return run_main(
            capsys, monkeypatch, *args, *project, env={**env, "MODELYARD_AUDIT_KEY_FILE": str(key)}
        )

    assert (
        run_main(capsys, monkeypatch, "audit", "keygen", "-o", str(old_file), env=env).returncode
        == 0
    )
    generate_signing_key(new_file)
    _open(project_dir, store_url, anchor, old_file).close()
    ran = cli("audit", "rotate-key", "--new", str(new_file), "-m", "laptop lost", key=old_file)
    flat = "".join(ran.stdout.split())  # the console wraps long paths
    assert ran.returncode == 0 and f"MODELYARD_AUDIT_KEY_FILE={new_file}" in flat
    ran = cli("audit", "checkpoint", key=new_file)
    assert ran.returncode == 0 and str(anchor) in "".join(ran.stdout.split())
    ran = cli("audit", "verify", key=new_file)
    assert ran.returncode == 0 and "with signatures" in ran.stdout, ran.stdout
    stale = cli("audit", "verify", key=old_file)  # the old key is refused: a configuration error
    assert stale.returncode == 2 and "not the chain's signing key" in stale.stderr
