"""Manual runs and rehearsals: a playbook run on an operator's request, for a synthetic alert.

The synthetic alert is a real ``alerts`` row (``synthetic: true`` in its details), resolved
when the run ends; a rehearsal runs for real, on the staging endpoint the playbook names.
"""

from __future__ import annotations

import difflib

from modelyard.core.errors import InvalidInput, NotFound
from modelyard.core.operations_records import ActionRecord
from modelyard.orchestration.playbooks.runner import Playbooks
from modelyard.registry.registry import Registry
from modelyard.store.playbooks import PlaybookStore


def known_endpoints(reg: Registry) -> list[str]:
    return sorted(set(PlaybookStore(reg.store).endpoint_names()) | set(reg.config.endpoints))


def run_synthetic(
    reg: Registry,
    name: str,
    endpoint: str,
    *,
    actor: str,
    dry_run: bool | None = None,
    rehearsal: bool = False,
    force: bool = False,
) -> tuple[int, list[ActionRecord]]:
    """Fire a synthetic alert (a real ``alerts`` row, ``synthetic: true`` in its details) for
    playbook ``name`` at ``endpoint``, run the playbook (the cooldown does not apply to a run
    an operator asks for), then resolve the alert. Returns the alert id and the records.

    The endpoint must exist. A playbook that lists ``endpoints`` runs only on those unless
    ``force``; a rehearsal runs for real and only on an endpoint the playbook names explicitly
    (your staging endpoint), unless ``force``."""
    books = Playbooks(reg, actor=actor)
    cfg = books.config(name)
    known = known_endpoints(reg)
    if endpoint not in known:
        close = difflib.get_close_matches(endpoint, known, n=1)
        raise NotFound(
            f"no endpoint {endpoint!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
            hint=f"endpoints: {', '.join(known) or 'none (deploy a version first)'}",
        )
    if not force and (rehearsal or cfg.endpoints) and endpoint not in cfg.endpoints:
        what = "rehearse" if rehearsal else "run"
        raise InvalidInput(
            f"playbook {name!r} does not name endpoint {endpoint!r}, so it will not {what} there"
            + (
                f" (it covers: {', '.join(cfg.endpoints)})"
                if cfg.endpoints
                else " (a rehearsal needs the staging endpoint listed in its endpoints)"
            ),
            hint=f"add {endpoint} to playbooks.{name}.endpoints, or pass --force",
        )
    tier = cfg.when.min_tier or "critical"
    kind = "rehearsal" if rehearsal else "manual run"
    message = f"synthetic alert: {kind} of playbook {name} by {actor}"
    store = PlaybookStore(reg.store)
    alert_id = store.open_synthetic_alert(
        endpoint, f"synthetic:{name}", tier, message, {"playbook": name, "kind": kind}, actor
    )
    event = {
        "alert_id": alert_id,
        "event": "fired",
        "endpoint": endpoint,
        "rule": f"synthetic:{name}",
        "tier": tier,
        "value": None,
        "threshold": None,
        "message": message,
    }
    try:
        records = books.run(
            name, event, dry_run=False if rehearsal else dry_run, ignore_cooldown=True
        )
    finally:
        store.resolve_alert(alert_id)
    return alert_id, records
