"""Who may call the inference server: bearer tokens checked against an in-memory snapshot.

``serving.auth: token`` in the project file: inference routes need ``Authorization: Bearer
<token>`` whose role has the ``predict`` permission (the same token table and permission table
as the management API); model status and metadata show their details (failure reasons, routes,
versions, signatures) only to a token with ``read`` and a minimal answer otherwise;
``serving.metrics_auth`` (default: as ``auth``) puts ``/metrics`` behind ``read``. Health
routes stay open for probes.

The hot path never touches the store: ``TokenSnapshot`` is refreshed every ``refresh_s`` by a
background task on a worker thread (as the routing plan is). A failed refresh keeps the last
snapshot, so a store hiccup neither opens the server nor locks callers out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import MutableMapping
from typing import Any

from modelyard.core.errors import Unauthenticated
from modelyard.core.governance import ROLE_PERMISSIONS, Permission
from modelyard.core.serving_config import ServingConfig
from modelyard.security.access import Identity
from modelyard.security.token_snapshot import TokenSnapshot

log = logging.getLogger("modelyard.serving")
Scope = MutableMapping[str, Any]
MISSING = "missing credentials: send 'Authorization: Bearer <token>'"
HINT = "create a token with `modelyard token create NAME --role ROLE`"


class ServingAuth:
    """The checks one server applies; ``predict``/``metrics`` say which surfaces need a token."""

    def __init__(self, tokens: TokenSnapshot, config: ServingConfig, refresh_s: float) -> None:
        self.tokens = tokens
        self.predict = not config.inference_open
        self.metrics = not config.metrics_open
        self.refresh_s = refresh_s
        self.refused: Any = None  # set by the app: counts 401/403 answers
        self._task: asyncio.Task[None] | None = None

    @property
    def status(self) -> bool:
        """Status and metadata details need a token exactly when inference does."""
        return self.predict

    # ---- checks (no I/O) ----------------------------------------------------------------------
    def identity(self, scope: Scope) -> Identity | None:
        """The caller behind the request's bearer token; None when it presents none;
        Unauthenticated for a malformed, unknown, revoked or expired token."""
        header = None
        for k, v in scope["headers"]:
            if k == b"authorization":
                header = v
                break
        if header is None:
            return None
        if header[:7].lower() != b"bearer ":
            raise Unauthenticated(
                "unsupported credentials: send 'Authorization: Bearer <token>'", hint=HINT
            )
        return self.tokens.authenticate(header[7:].strip().decode("latin-1"))

    def require(self, scope: Scope, permission: Permission, action: str) -> Identity:
        who = self.identity(scope)
        if who is None:
            raise Unauthenticated(MISSING, hint=HINT)
        if permission not in ROLE_PERMISSIONS[who.role]:  # the table itself: no copy of it
            who.require(permission, action)  # raises 403 naming the roles that have it
        return who

    def reader(self, scope: Scope) -> bool:
        """May this caller see status details? False for an anonymous caller; a bad token is
        refused (401) rather than treated as anonymous."""
        who = self.identity(scope)
        if who is None:
            return False
        who.require(Permission.READ, "read model status")
        return True

    # ---- the background refresh ---------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.tokens.refresh)
        if self.tokens.active() == 0:
            log.warning(
                "serving.auth is token but no active API token exists: every inference request "
                "will be refused (401); create one with `modelyard token create`"
            )
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await asyncio.to_thread(self.tokens.refresh)
            except Exception:  # the store may be briefly unreachable: keep the last snapshot
                log.exception("token refresh failed; checking against the last snapshot")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere, so count it as exposed


def exposure_warnings(config: ServingConfig, host: str, port: int) -> list[str]:
    """What `serve` says loudly at start-up when a non-loopback address is served open."""
    if is_loopback(host):
        return []
    out = []
    where = f"{host}:{port}"
    if config.inference_open:
        also = ", /metrics" if config.metrics_open else ""
        out.append(
            f"serving {where}, a non-loopback address, with serving.auth: none: anyone who can "
            f"reach it may predict and read model status (failure reasons, versions){also}; "
            "set `serving: {auth: token}` in modelyard.yaml to require an API token"
        )
    elif config.metrics_open:
        out.append(
            f"serving {where}, a non-loopback address, with serving.metrics_auth: none: "
            "/metrics is open to anyone who can reach it"
        )
    return out
