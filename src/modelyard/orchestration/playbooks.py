"""Remediation playbooks: alerts mapped to actions (roll back, shift, throttle, retrain, notify).

A playbook in the project file (``playbooks:``) names when it runs (alert rule names, a minimum
tier, or a continuous-training trigger), which endpoints it covers, and its actions in order.
:class:`Playbooks` takes alert events, picks the playbooks that match each ``fired`` event,
honours the cooldown per (playbook, endpoint), runs the actions in order and records each one —
its status, its concrete targets and the alert behind it — in ``playbook_actions`` and in the
audit log, in one transaction per action. A failed action stops the rest of that run (they are
recorded as skipped). A dry run records the plan with its concrete targets and changes nothing.

Each action is one small executor with a ``plan`` (what it would do, resolved against the store)
and an ``apply``; a new action is a new executor, not a branch in the runner.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard.core.errors import IllegalTransition, ModelyardError, NotFound
from modelyard.core.lifecycle import DEPLOYABLE, State
from modelyard.core.monitor_config import PlaybookAction, PlaybookConfig, SinkConfig, tier_rank
from modelyard.core.webhooks import WebhookRefused, redact_url, scrub, url_id
from modelyard.orchestration.continuous import RetrainPlan, plan_retrain, retrain_and_release
from modelyard.orchestration.operations import champion, ensure_cleared, last_known_good, rollback
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.playbooks import PlaybookStore
from modelyard.store.rollouts import RolloutStore

log = logging.getLogger("modelyard.playbooks")

Event = Mapping[str, Any]
# statuses that start a cooldown: something was changed, or was tried and failed
COOLDOWN_STATUSES = ("done", "failed")


@dataclass(frozen=True)
class ActionRecord:
    """One recorded action of a playbook run (a row of ``playbook_actions``)."""

    id: int
    playbook: str
    endpoint: str
    action: str
    status: str  # done | failed | dry-run | skipped
    dry_run: bool
    alert_id: int | None
    details: dict[str, Any] = field(default_factory=dict)
    created_at: Any = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ActionRecord:
        return cls(
            id=int(row["id"]),
            playbook=str(row["playbook"]),
            endpoint=str(row["endpoint"]),
            action=str(row["action"]),
            status=str(row["status"]),
            dry_run=bool(row["dry_run"]),
            alert_id=row["alert_id"],
            details=dict(row["details"] or {}),
            created_at=row["created_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.created_at, dt.datetime):
            out["created_at"] = self.created_at.isoformat()
        return out

    @property
    def summary(self) -> str:
        d = self.details
        if "error" in d:
            return str(d["error"])
        if "outcome" in d:
            return str(d["outcome"])
        if "reason" in d:
            return str(d["reason"])
        return ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("run", "rule", "tier"))


class ActionFailed(ModelyardError):
    """An action could not be carried out; ``details`` say what was found."""

    code = "playbook_action_failed"
    http_status = 409


@dataclass(frozen=True)
class ActionContext:
    reg: Registry
    playbook: str
    config: PlaybookConfig
    action: PlaybookAction
    endpoint: str
    event: Event
    actor: str
    run_id: str
    earlier: tuple[dict[str, Any], ...] = ()  # the run's earlier actions: action, status, outcome

    @property
    def reason(self) -> str:
        alert = self.event.get("alert_id")
        cause = f"alert #{alert}" if alert is not None else "trigger"
        return f"playbook {self.playbook} ({cause}: {self.event.get('rule', '?')})"


class Executor:
    """One action kind: ``plan`` resolves its concrete targets (no change), ``apply`` does it."""

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self, plan: dict[str, Any]) -> str:
        """What the plan would do, in a few words (the outcome of a dry run)."""
        raise NotImplementedError


# ---- rollback -------------------------------------------------------------------------------
class Rollback(Executor):
    def describe(self, plan: dict[str, Any]) -> str:
        return f"would roll back {plan['from']} → {plan['to']}"

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        current = champion(ctx.reg, ctx.endpoint)
        target = last_known_good(ctx.reg, ctx.endpoint)
        return {"from": current.ref if current else None, "to": target.ref}

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        done = rollback(ctx.reg, ctx.endpoint, ctx.reason, to=plan["to"], actor=ctx.actor)
        return {"from": done.from_version, "to": done.to_version, "outcome": f"→ {done.to_version}"}


# ---- shift ----------------------------------------------------------------------------------
def check_servable(reg: Registry, mv: ModelVersion) -> bool:
    """Raise unless ``mv`` may take production traffic under the lifecycle and governance.
    Returns True when it is validated and governance needs no human approval (it is then
    approved on the way)."""
    if State(mv.state) in DEPLOYABLE:
        return False
    required = reg.config.governance.approvals.required
    if mv.state == State.VALIDATED.value and required == 0:
        return True
    why = (
        f"it is validated but governance requires {required} approval(s)"
        if mv.state == State.VALIDATED.value
        else f"it is {mv.state}; only approved (or deployed) versions may take traffic"
    )
    raise IllegalTransition(
        f"cannot shift traffic to {mv.ref}: {why}",
        hint=f"gate and approve it first (`modelyard gate {mv.ref}`, `modelyard approve`)",
        version=mv.ref,
        state=mv.state,
    )


class Shift(Executor):
    def describe(self, plan: dict[str, Any]) -> str:
        approve = " (approving it: no approval required)" if plan["auto_approve"] else ""
        return f"would shift all traffic {plan['from']} → {plan['to']}{approve}"

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        ref = str(ctx.action.to)
        mv = ctx.reg.model_version(ref)
        approve = check_servable(ctx.reg, mv)
        if not approve:
            ensure_cleared(ctx.reg, mv)  # its gate record and the approvals still on record
        current = champion(ctx.reg, ctx.endpoint)
        return {
            "from": current.ref if current else None,
            "to": mv.ref,
            "state": mv.state,
            "auto_approve": approve,
        }

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        if plan["from"] == plan["to"]:
            return {**plan, "outcome": f"{plan['to']} already takes all traffic"}
        if plan["auto_approve"]:
            ctx.reg.transition(
                plan["to"],
                State.APPROVED,
                reason=f"{ctx.reason}: governance requires no approval",
                actor=ctx.actor,
            )
            ensure_cleared(ctx.reg, ctx.reg.model_version(plan["to"]))
        done = rollback(
            ctx.reg, ctx.endpoint, f"{ctx.reason}: shift", to=plan["to"], actor=ctx.actor
        )
        return {"from": done.from_version, "to": done.to_version, "outcome": f"→ {done.to_version}"}


# ---- throttle -------------------------------------------------------------------------------
class Throttle(Executor):
    def describe(self, plan: dict[str, Any]) -> str:
        return "would throttle: " + ", ".join(f"{k}={v:g}" for k, v in plan["throttle"].items())

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        limits: dict[str, Any] = {}
        if ctx.action.rate_per_s is not None:
            limits["rate_per_s"] = ctx.action.rate_per_s
        if ctx.action.max_concurrency is not None:
            limits["max_concurrency"] = ctx.action.max_concurrency
        before = ctx.reg.store.routes.overrides(ctx.endpoint)
        return {"throttle": limits, "overrides_before": before or None}

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        merged = {**(plan["overrides_before"] or {}), "throttle": plan["throttle"]}
        generation = ctx.reg.store.routes.set_overrides(ctx.endpoint, merged, ctx.actor, ctx.reason)
        limits = ", ".join(f"{k}={v:g}" for k, v in plan["throttle"].items())
        return {**plan, "generation": generation, "outcome": f"throttled: {limits}"}


# ---- retrain (the path lives in continuous.py, shared with the triggers) --------------------
class Retrain(Executor):
    def describe(self, plan: dict[str, Any]) -> str:
        data = ", ".join(plan["datasets"].values())
        return f"would retrain {plan['source']} on {data}, gate it, then {plan['then']}"

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        return plan_retrain(ctx.reg, ctx.endpoint, ctx.action.model, ctx.action.dataset).to_dict()

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        p = RetrainPlan(**plan)
        return {
            "datasets": p.datasets,
            **retrain_and_release(ctx.reg, ctx.endpoint, p, ctx.actor, ctx.reason),
        }


# ---- notify ---------------------------------------------------------------------------------
class Notify(Executor):
    """POST the alert and the run so far to the action's ``sink`` or to every webhook sink.

    The plan (stored, audited, shown) names each webhook by its redacted URL and digest; the
    URL itself is looked up again from the project file when the action runs, and sent only
    where the project's ``webhooks`` policy allows (:mod:`modelyard.security.webhooks`)."""

    def describe(self, plan: dict[str, Any]) -> str:
        return "would notify " + ", ".join(t["url"] or t["kind"] for t in plan["targets"])

    @staticmethod
    def _webhooks(ctx: ActionContext) -> dict[str, tuple[str, SinkConfig | None]]:
        """Digest → (URL, its sink config) of every webhook this action may call."""
        if ctx.action.sink:
            return {url_id(ctx.action.sink): (ctx.action.sink, None)}
        return {
            url_id(s.url): (s.url, s)
            for s in ctx.reg.config.monitoring.sinks
            if s.kind == "webhook" and s.url
        }

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        if ctx.action.sink:
            hook = ctx.action.sink
            return {"targets": [{"kind": "webhook", "url": redact_url(hook), "id": url_id(hook)}]}
        targets = [
            {"kind": "webhook", "url": redact_url(s.url), "id": url_id(s.url)}
            if s.kind == "webhook" and s.url
            else {"kind": "log", "url": None}
            for s in ctx.reg.config.monitoring.sinks
        ]
        return {"targets": targets or [{"kind": "log", "url": None}]}

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        import httpx

        from modelyard.security.webhooks import describe_status, post_json

        payload = {
            "kind": "playbook",
            "playbook": ctx.playbook,
            "endpoint": ctx.endpoint,
            "run": ctx.run_id,
            "alert": {k: _plain(v) for k, v in ctx.event.items()},
            "actions": list(ctx.earlier),
        }
        sent = []
        hooks = self._webhooks(ctx)
        for target in plan["targets"]:
            if target["kind"] == "log":
                log.warning("playbook notification %s", json.dumps(payload, default=str))
                sent.append("log")
                continue
            shown = target["url"]
            if target.get("id") not in hooks:
                raise ActionFailed(f"webhook {shown} is no longer in the project file", url=shown)
            url, sink = hooks[target["id"]]
            attempts = 1 + (sink.retries if sink else 2)
            timeout = sink.timeout_s if sink else 5.0
            last = ""
            for _ in range(attempts):
                try:
                    r = post_json(url, payload, timeout_s=timeout, policy=ctx.reg.config.webhooks)
                    if r.status_code < 300:
                        last = ""
                        break
                    last = describe_status(r)
                except WebhookRefused as exc:
                    raise ActionFailed(exc.message, url=shown) from None
                except httpx.HTTPError as exc:
                    last = scrub(f"{type(exc).__name__}: {exc}", url)
            if last:
                raise ActionFailed(
                    f"webhook {shown} did not accept the notification: {last}", url=shown
                )
            sent.append(shown)
        return {"sent": sent, "outcome": f"notified {', '.join(sent)}"}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


EXECUTORS: dict[str, Callable[[], Executor]] = {
    "rollback": Rollback,
    "shift": Shift,
    "throttle": Throttle,
    "retrain": Retrain,
    "notify": Notify,
}


# ---- the runner -----------------------------------------------------------------------------
LEASE_TTL_S = 1800.0  # a run holds its lease this long at most (a crashed process frees it)


def lease_name(playbook: str, endpoint: str) -> str:
    digest = hashlib.sha256(f"{playbook}\0{endpoint}".encode()).hexdigest()[:32]
    return f"playbook:{digest}"


def matches(config: PlaybookConfig, event: Event) -> bool:
    """A ``fired`` event matches when its endpoint is covered and its rule is named in
    ``when.rules`` or its tier is at or above ``when.min_tier``."""
    if event.get("event", "fired") != "fired" or not event.get("endpoint"):
        return False
    if config.endpoints and event.get("endpoint") not in config.endpoints:
        return False
    when = config.when
    if event.get("rule") in when.rules:
        return True
    tier = event.get("tier")
    if when.min_tier is not None and tier in ("warning", "critical", "emergency"):
        return tier_rank(str(tier)) >= tier_rank(when.min_tier)
    return False


class Playbooks:
    """Runs the project's playbooks for alert events and triggers."""

    def __init__(
        self,
        reg: Registry,
        *,
        actor: str = "playbook",
        playbooks: Mapping[str, PlaybookConfig] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.reg = reg
        self.actor = actor
        self.playbooks = dict(reg.config.playbooks if playbooks is None else playbooks)
        self.store = PlaybookStore(reg.store)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def config(self, name: str) -> PlaybookConfig:
        try:
            return self.playbooks[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, list(self.playbooks), n=1)
            raise NotFound(
                f"no playbook {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                hint=f"playbooks in modelyard.yaml: {', '.join(self.playbooks) or 'none'}",
            ) from None

    def handle(self, events: Iterable[Event | Any], dry_run: bool = False) -> list[ActionRecord]:
        """Run every playbook matching each ``fired`` event; other events are ignored. An
        event is a mapping (alert_id, event, endpoint, rule, tier, value, threshold, message)
        or an object with ``to_dict()`` giving one (the monitor's ``AlertEvent``)."""
        records: list[ActionRecord] = []
        for item in events:
            event: Event = item if isinstance(item, Mapping) else item.to_dict()
            for name, cfg in self.playbooks.items():
                if matches(cfg, event):
                    records += self.run(name, event, dry_run=True if dry_run else None)
        return records

    def run(
        self,
        name: str,
        event: Event,
        *,
        dry_run: bool | None = None,
        ignore_cooldown: bool = False,
    ) -> list[ActionRecord]:
        """Run playbook ``name`` for ``event`` on ``event['endpoint']``. ``dry_run``: None
        follows the playbook's own ``dry_run``; True or False overrides it (a rehearsal runs
        for real). ``ignore_cooldown`` is for runs an operator asks for explicitly."""
        cfg = self.config(name)
        endpoint = str(event["endpoint"])
        dry = cfg.dry_run if dry_run is None else dry_run
        run_id = uuid.uuid4().hex[:12]
        alert_id = event.get("alert_id")
        alert_id = int(alert_id) if alert_id is not None else None
        base = {"run": run_id, "rule": event.get("rule"), "tier": event.get("tier")}
        if event.get("trigger"):
            base["trigger"] = event["trigger"]
        # one run at a time per (playbook, endpoint) across processes and replicas, and the
        # cooldown is judged while holding it (so two replicas never both pass it)
        lease, owner = lease_name(name, endpoint), f"{socket.gethostname()}:{os.getpid()}:{run_id}"
        leases = RolloutStore(self.reg.store)
        if not dry and not leases.acquire(lease, owner, LEASE_TTL_S):
            holder = leases.holder(lease)
            return [
                self._record(
                    name,
                    endpoint,
                    cfg.actions[0].do,
                    "skipped",
                    dry,
                    alert_id,
                    {
                        **base,
                        "reason": "another process is running this playbook on this endpoint"
                        + (f" ({holder['owner']})" if holder else ""),
                    },
                )
            ]
        try:
            if not ignore_cooldown:
                skipped = self._cooldown(name, cfg, endpoint, dry, alert_id, base)
                if skipped is not None:
                    return [skipped]
            return self._run_actions(name, cfg, endpoint, event, dry, alert_id, base, run_id)
        finally:
            if not dry:
                leases.release(lease, owner)

    def _cooldown(
        self,
        name: str,
        cfg: PlaybookConfig,
        endpoint: str,
        dry: bool,
        alert_id: int | None,
        base: dict[str, Any],
    ) -> ActionRecord | None:
        """A ``skipped`` record while the last done/failed action is within the quiet time."""
        if cfg.cooldown_s <= 0:
            return None
        last = self.store.last(name, endpoint, COOLDOWN_STATUSES)
        if last is None:
            return None
        waited = (self.clock() - last["created_at"]).total_seconds()
        if waited >= cfg.cooldown_s:
            return None
        return self._record(
            name,
            endpoint,
            cfg.actions[0].do,
            "skipped",
            dry,
            alert_id,
            {
                **base,
                "reason": f"cooldown: last run {waited:.0f}s ago, {cfg.cooldown_s:g}s quiet time",
                "last_action": last["id"],
            },
        )

    def _run_actions(
        self,
        name: str,
        cfg: PlaybookConfig,
        endpoint: str,
        event: Event,
        dry: bool,
        alert_id: int | None,
        base: dict[str, Any],
        run_id: str,
    ) -> list[ActionRecord]:
        records: list[ActionRecord] = []
        failed = False
        for i, action in enumerate(cfg.actions):
            if failed:
                records.append(
                    self._record(
                        name,
                        endpoint,
                        action.do,
                        "skipped",
                        dry,
                        alert_id,
                        {**base, "step": i + 1, "reason": "an earlier action failed"},
                    )
                )
                continue
            earlier = tuple(
                {"action": r.action, "status": r.status, "outcome": r.summary} for r in records
            )
            ctx = ActionContext(
                self.reg, name, cfg, action, endpoint, event, self.actor, run_id, earlier
            )
            executor = EXECUTORS[action.do]()
            status, details = "dry-run" if dry else "done", {**base, "step": i + 1}
            try:
                plan = executor.plan(ctx)
                details["plan"] = plan
                if dry:
                    details["outcome"] = executor.describe(plan)
                else:
                    details.update(executor.apply(ctx, plan))
            except ModelyardError as exc:
                status, failed = "failed", True
                details.update({"error": exc.message, **_jsonable(exc.details)})
                if exc.hint:
                    details["hint"] = exc.hint
            except Exception as exc:  # a broken training function must not stop the monitor
                status, failed = "failed", True
                details["error"] = f"{type(exc).__name__}: {exc}"
                log.exception("playbook %s action %s failed", name, action.do)
            records.append(self._record(name, endpoint, action.do, status, dry, alert_id, details))
        return records

    def _record(
        self,
        name: str,
        endpoint: str,
        action: str,
        status: str,
        dry: bool,
        alert_id: int | None,
        details: dict[str, Any],
    ) -> ActionRecord:
        cause = f"alert #{alert_id}" if alert_id is not None else "trigger"
        row = self.store.record(
            playbook=name,
            endpoint=endpoint,
            action=action,
            status=status,
            dry_run=dry,
            alert_id=alert_id,
            details=_jsonable(details),
            actor=self.actor,
            reason=f"playbook {name}: {action} {status} ({cause}: {details.get('rule')})",
        )
        return ActionRecord.from_row(row)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ---- manual runs and rehearsals -------------------------------------------------------------
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
    import difflib

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
        from modelyard.core.errors import InvalidInput

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
