"""Sending a webhook only to an address the project allows (no server-side request forgery).

:func:`post_json` is the one way modelyard calls a webhook. Its transport resolves the host
at connect time, checks every address it resolves to (:mod:`modelyard.core.webhooks`: public,
or allowed by the project file's ``webhooks``), and connects to the address it checked — the
request keeps its ``Host`` header and, over TLS, the SNI name and the certificate check of the
original host — so a name that resolves to a public address when checked and to an internal
one a moment later (DNS rebinding) never reaches the internal one. Redirects are not
followed: a 3xx answer is a failed delivery. Errors never carry the URL's path or query.

Hand-written on purpose: httpx has no hook between name resolution and connect, and the
pinning fits in one small transport that wraps httpx's own.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx

from modelyard.core.webhooks import (
    IPAddress,
    WebhookRefused,
    WebhooksConfig,
    check_address,
    check_static,
    literal_address,
    redact_url,
    scrub,
)


def resolve_checked(host: str, port: int, policy: WebhooksConfig) -> IPAddress:
    """The address to connect to for ``host``: every address it resolves to must pass the
    policy (one internal address among public ones refuses the host), the first is used."""
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise WebhookRefused(f"webhook host {host} does not resolve: {exc}") from None
        addresses = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise WebhookRefused(f"webhook host {host} resolves to no address")
    if not policy.allows_host(host):
        for ip in addresses:
            check_address(host, ip, policy)
    return addresses[0]


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that checks the target at connect time and pins its address."""

    def __init__(self, policy: WebhooksConfig) -> None:
        self.policy = policy
        # trust_env here: SSL_CERT_FILE / SSL_CERT_DIR (a company CA) still apply; proxies do
        # not (the client is built with trust_env=False): through a proxy the address could
        # not be pinned
        self.inner = httpx.HTTPTransport(retries=0, trust_env=True)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        check_static(str(request.url), self.policy)
        ip = resolve_checked(host, port, self.policy)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        request.url = request.url.copy_with(host=str(ip))  # the Host header stays the name's
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def post_json(
    url: str, payload: Any, *, timeout_s: float, policy: WebhooksConfig
) -> httpx.Response:
    """POST ``payload`` as JSON to ``url`` if the policy allows its host (checked after
    resolution, at connect time); raises WebhookRefused, or httpx errors with the URL scrubbed.
    """
    check_static(url, policy)
    with httpx.Client(
        transport=PinnedTransport(policy), follow_redirects=False, trust_env=False
    ) as client:
        try:
            return client.post(url, json=payload, timeout=timeout_s)
        except httpx.HTTPError as exc:
            message = scrub(str(exc), url)
            try:
                clean = type(exc)(message)
            except TypeError:  # an error type that needs more than a message
                clean = httpx.TransportError(f"{type(exc).__name__}: {message}")
            raise clean from None


def describe_status(resp: httpx.Response) -> str:
    """``HTTP 503``, or ``HTTP 302 (redirects are not followed)``."""
    if resp.is_redirect:
        return f"HTTP {resp.status_code} (redirects are not followed)"
    return f"HTTP {resp.status_code}"


__all__ = ["PinnedTransport", "describe_status", "post_json", "redact_url", "resolve_checked"]
