"""Leader election for monitor processes: a named lease in the store, held by one process at a
time and renewed on every pass; a process that stops renewing loses it after ``ttl_s``."""

from __future__ import annotations

from modelyard.core.operations_records import LeaseHolder
from modelyard.registry.registry import Registry
from modelyard.store.rollouts import RolloutStore


class Lease:
    """The lease ``name`` as ``owner`` tries to hold it."""

    def __init__(self, reg: Registry, name: str, owner: str, ttl_s: float) -> None:
        self.reg = reg
        self.name = name
        self.owner = owner
        self.ttl_s = ttl_s

    def hold(self) -> bool:
        """Take the lease or renew it; True while this owner holds it."""
        return RolloutStore(self.reg.store).acquire(self.name, self.owner, self.ttl_s)

    def release(self) -> None:
        """Give the lease up now (unreleased, it expires by itself)."""
        RolloutStore(self.reg.store).release(self.name, self.owner)


def lease_holder(reg: Registry, name: str) -> LeaseHolder | None:
    """Who holds the lease ``name`` (``owner``) and until when (``expires_at``); None: nobody."""
    return RolloutStore(reg.store).holder(name)
