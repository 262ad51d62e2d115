"""The audit chain's rules, free of I/O: how an entry is hashed, signed and verified.

Each entry's hash covers its sequence number, time, actor, action, target, reason, data and the
previous entry's hash, so editing, deleting or reordering any entry breaks every hash after it.

Signing (Ed25519) is declared *in the chain*: an ``audit.key`` entry names the public key that
signs every later entry. The first declaration (signing switched on, possibly long after
``init``) is signed by the key it declares; a rotation is signed by the key it replaces. Entries
before the first declaration carry no signatures; the first signed entry covers them by hash.

Three kinds of message are signed, each with its own prefix so that a signature made for one
can never be presented as another (the head's signature cannot be copied from an entry):

* an entry: its 64-character hex hash (kept unprefixed: chains signed before prefixes existed
  stay valid, and no prefixed message below is 64 hex characters long);
* the head: ``modelyard.audit.head.v1`` + the sequence number and hash of the newest entry;
* a checkpoint (the anchor kept outside the database): ``modelyard.audit.checkpoint.v1`` +
  sequence number, hash and time.

Without an anchor a chain can only be checked against itself: whoever can rewrite the whole
database can rewrite a consistent (unsigned) chain. A checkpoint written to a place the database
writer cannot rewrite pins (sequence, hash); :func:`check_checkpoint` compares a chain with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
KEY_ACTION = "audit.key"  # the entry that declares (or rotates) the signing key
HEAD_DOMAIN = b"modelyard.audit.head.v1\n"
CHECKPOINT_DOMAIN = b"modelyard.audit.checkpoint.v1\n"


def _canonical_time(at: dt.datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str,
    reason: str,
    data: Mapping[str, Any],
    prev_hash: str,
) -> str:
    body = json.dumps(
        [seq, _canonical_time(at), actor, action, target, reason, data, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def head_message(seq: int, digest: str) -> bytes:
    return HEAD_DOMAIN + f"{int(seq)}\n{digest}".encode()


def checkpoint_message(seq: int, digest: str, at: str) -> bytes:
    return CHECKPOINT_DOMAIN + f"{int(seq)}\n{digest}\n{at}".encode()


def public_key_hex(key: Any) -> str:
    """The raw 32-byte Ed25519 public key, hex: how keys are named in entries and checkpoints."""
    from cryptography.hazmat.primitives import serialization

    public = key.public_key() if hasattr(key, "sign") else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return str(raw.hex())


def load_public_key(hex_key: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))


def sign(private_key: Any, digest: str) -> str:
    """An entry's signature: over its hex hash."""
    return sign_bytes(private_key, digest.encode())


def sign_bytes(private_key: Any, message: bytes) -> str:
    return str(private_key.sign(message).hex())


def signature_ok(public_key: Any, message: bytes, signature: str | None) -> bool:
    from cryptography.exceptions import InvalidSignature

    if not signature:
        return False
    try:
        public_key.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Checkpoint:
    """(sequence, hash, time) of the chain, signed by the key then in force (if any)."""

    seq: int
    hash: str
    at: str
    key: str | None = None  # hex public key that made ``sig``
    sig: str | None = None
    source: str = field(default="", compare=False)  # where it was read from, for messages

    def to_line(self) -> bytes:
        doc = {"v": 1, "seq": self.seq, "hash": self.hash, "at": self.at}
        doc |= {"key": self.key, "sig": self.sig}
        return (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()

    @classmethod
    def parse(cls, raw: bytes | str, source: str) -> Checkpoint:
        """Raises ValueError naming the source when the line is not a checkpoint."""
        try:
            doc = json.loads(raw)
            seq, digest, at = int(doc["seq"]), str(doc["hash"]), str(doc["at"])
            key, sig = doc.get("key"), doc.get("sig")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{source} is not a checkpoint ({exc})") from None
        if seq < 0 or len(digest) != 64:
            raise ValueError(f"{source} is not a checkpoint (seq {seq}, hash {digest!r})")
        return cls(seq, digest, at, key, sig, source)

    def signed_by(self, public_key: Any) -> bool:
        return signature_ok(public_key, checkpoint_message(self.seq, self.hash, self.at), self.sig)


def make_checkpoint(
    seq: int, digest: str, signer: Any = None, at: dt.datetime | None = None
) -> Checkpoint:
    when = _canonical_time(at or dt.datetime.now(dt.UTC))
    if signer is None:
        return Checkpoint(seq, digest, when)
    sig = sign_bytes(signer, checkpoint_message(seq, digest, when))
    return Checkpoint(seq, digest, when, public_key_hex(signer), sig)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None
    signing_key: str | None = None  # hex public key in force at the end of the chain
    checkpoint_seq: int | None = None  # the newest checkpoint the chain was checked against


@dataclass
class ChainState:
    """Where a walk of the chain stands: the last entry verified and the key in force."""

    seq: int = 0
    hash: str = GENESIS
    key: str | None = None
    key_seq: int | None = None
    first_key_seq: int | None = None  # where signing started
    keys: set[str] = field(default_factory=set)  # every key the chain has declared
    hashes: dict[int, str] = field(default_factory=dict)  # of the entries asked for (``record``)

    def copy(self) -> ChainState:
        return ChainState(
            self.seq, self.hash, self.key, self.key_seq, self.first_key_seq, set(self.keys), {}
        )


class Broken(Exception):
    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(problem)
        self.seq, self.problem = seq, problem


def walk(rows: Iterable[Mapping[str, Any]], state: ChainState, record: Collection[int] = ()) -> int:
    """Verify ``rows`` (in storage order) as the continuation of ``state``, advancing it and
    keeping the hashes of the sequence numbers in ``record``. Returns how many rows were read;
    raises :class:`Broken` naming the first bad entry."""
    n = 0
    for row in rows:
        n += 1
        expected = state.seq + 1
        seq = int(row["seq"])
        if seq != expected:
            what = "missing (deleted)" if seq > expected else "out of order"
            raise Broken(expected, f"entry {expected} is {what}; found {seq} in its place")
        if row["prev_hash"] != state.hash:
            raise Broken(seq, f"entry {seq} does not follow entry {seq - 1} (chain link broken)")
        h = entry_hash(
            seq,
            row["at"],
            row["actor"],
            row["action"],
            row["target"],
            row["reason"],
            row["data"],
            row["prev_hash"],
        )
        if h != row["hash"]:
            raise Broken(seq, f"entry {seq} was edited (its hash no longer matches)")
        signer = state.key
        if row["action"] == KEY_ACTION:
            declared = (row["data"] or {}).get("public_key")
            if not isinstance(declared, str) or len(declared) != 64:
                raise Broken(seq, f"entry {seq} declares no valid signing key")
            signer = signer or declared  # a rotation is signed by the key it replaces
            _check_entry_signature(row, seq, h, signer)
            state.key, state.key_seq = declared, seq
            state.first_key_seq = state.first_key_seq or seq
            state.keys.add(declared)
        elif signer is not None:
            _check_entry_signature(row, seq, h, signer)
        state.seq, state.hash = seq, h
        if seq in record:
            state.hashes[seq] = h
    return n


def _check_entry_signature(row: Mapping[str, Any], seq: int, digest: str, key: str) -> None:
    if not signature_ok(load_public_key(key), digest.encode(), row.get("signature")):
        raise Broken(
            seq,
            f"entry {seq} has a missing or invalid signature (key {key[:16]}…)",
        )


def check_head(state: ChainState, head: Mapping[str, Any] | None) -> None:
    if head is None:
        if state.seq:
            raise Broken(1, "the audit head is missing")
        return
    if int(head["seq"]) != state.seq or head["hash"] != state.hash:
        missing = (
            f"entries {state.seq + 1}..{head['seq']} are missing: "
            if int(head["seq"]) > state.seq
            else f"entry {state.seq + 1}: "
        )
        raise Broken(
            state.seq + 1,
            f"{missing}the log ends at entry {state.seq} but its head records entry "
            f"{head['seq']} (entries were truncated or the head was edited)",
        )
    if state.key is not None and not signature_ok(
        load_public_key(state.key), head_message(state.seq, state.hash), head.get("signature")
    ):
        raise Broken(
            state.seq,
            f"the head (entry {state.seq}) has a missing or invalid head signature; an entry's "
            "signature is not a head signature",
        )


def check_key(state: ChainState, public_key: Any) -> None:
    """The chain's key must be the configured one: stripping or replacing keys shows here."""
    if public_key is None:
        return
    expected = public_key_hex(public_key)
    if state.key is None:
        raise Broken(
            1,
            f"from entry 1 on, the chain declares no signing key, but key {expected[:16]}… is "
            "configured (signatures stripped, or the chain rewritten?)",
        )
    if state.key != expected:
        raise Broken(
            state.key_seq or 1,
            f"the chain's signing key {state.key[:16]}… (declared at entry {state.key_seq}) is "
            f"not the configured key {expected[:16]}…",
        )


def check_checkpoint(state: ChainState, cp: Checkpoint, public_key: Any = None) -> None:
    """Compare a walked chain (that recorded ``cp.seq``) with a checkpoint from an anchor."""
    where = f" ({cp.source})" if cp.source else ""
    before_signing = state.first_key_seq is None or cp.seq < state.first_key_seq
    if public_key is not None and not cp.signed_by(public_key):
        # an older key may have signed it (any key the verified chain declared), and a
        # checkpoint taken while the chain was still unsigned carries no signature
        older = cp.key is not None and cp.key in state.keys
        unsigned_era = cp.sig is None and before_signing
        if not (unsigned_era or (older and cp.signed_by(load_public_key(str(cp.key))))):
            raise Broken(cp.seq, f"checkpoint {cp.seq}{where} has a missing or invalid signature")
    elif cp.key and cp.sig and not cp.signed_by(load_public_key(cp.key)):
        raise Broken(cp.seq, f"checkpoint {cp.seq}{where} has an invalid signature")
    if state.seq < cp.seq:
        raise Broken(
            state.seq + 1,
            f"the chain ends at entry {state.seq} but checkpoint {cp.seq}{where} recorded "
            f"entry {cp.seq}: entries {state.seq + 1}..{cp.seq} were removed",
        )
    if state.hashes.get(cp.seq) != cp.hash:
        raise Broken(
            cp.seq,
            f"entry {cp.seq} differs from checkpoint {cp.seq}{where}: the chain up to entry "
            f"{cp.seq} was rewritten",
        )


def verify_chain(
    rows: Iterable[Mapping[str, Any]],
    head: Mapping[str, Any] | None,
    public_key: Any = None,
    checkpoints: Sequence[Checkpoint] = (),
) -> VerifyResult:
    """Walk entries in storage order; name the first entry that breaks the chain. With a
    ``public_key`` the chain must be signed by it; it must contain every one of ``checkpoints``
    (the newest of each anchor)."""
    state = ChainState()
    counted = _Counting(rows)
    newest = max((cp.seq for cp in checkpoints), default=None)
    try:
        walk(counted, state, record={cp.seq for cp in checkpoints})
        check_head(state, head)
        check_key(state, public_key)
        for cp in sorted(checkpoints, key=lambda c: c.seq, reverse=True):
            check_checkpoint(state, cp, public_key)
    except Broken as b:
        return VerifyResult(False, counted.n, b.seq, b.problem, state.key, newest)
    return VerifyResult(True, counted.n, signing_key=state.key, checkpoint_seq=newest)


class _Counting:
    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        for r in self.rows:
            self.n += 1
            yield r
