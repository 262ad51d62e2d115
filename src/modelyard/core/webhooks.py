"""Which webhook targets may be called, and how a webhook URL is shown (no I/O here).

A webhook (an alert sink, a playbook ``notify``) is refused when its host is, or resolves to,
an address that is not public: loopback, link-local (169.254.0.0/16 holds the cloud metadata
services), private, shared (100.64.0.0/10), unique-local (fc00::/7), multicast, unspecified,
reserved — also when written as an IPv4-mapped, 6to4 or NAT64 IPv6 address, or in the numeric
forms ``inet_aton`` accepts (``2130706433``, ``0x7f000001``, ``127.1``). The project file opts
in with ``webhooks.allow_private: true`` or with ``webhooks.allow`` (host names, addresses or
CIDRs). This module checks what can be checked without the network (the URL's form, literal
addresses, ``localhost``) when the project file loads; :mod:`modelyard.security.webhooks`
checks every resolved address again when a request is sent and connects only to the address
it checked.

The path and query of a webhook URL (for chat services, the secret) are never stored or
shown: :func:`redact_url` keeps the scheme, host and port, the last four characters of a long
path, and a digest of the whole URL for identity.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
TAIL_SHOWN = 4  # characters of a long path shown after the ellipsis
TAIL_MIN_SECRET = 16  # paths shorter than this show no tail at all


class WebhookRefused(InvalidInput):
    """A webhook target the project's ``webhooks`` policy does not allow."""

    code = "webhook_refused"


class WebhooksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_private: bool = Field(
        default=False,
        description="allow webhooks to loopback, link-local, private and other internal "
        "addresses (off: only public addresses)",
    )
    allow: tuple[str, ...] = Field(
        default=(),
        description="host names, addresses or CIDRs allowed even when internal "
        "(e.g. hooks.corp.internal, 10.20.0.0/16, 127.0.0.1)",
    )

    @field_validator("allow")
    @classmethod
    def _hosts_or_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if _network(entry) is None and not _is_hostname(entry):
                raise ValueError(
                    f"{entry!r} is neither a host name nor an address or CIDR "
                    "(expected e.g. hooks.corp.internal, 10.0.0.5 or 10.20.0.0/16)"
                )
        return tuple(e.strip().lower().rstrip(".") for e in value)

    def networks(self) -> list[IPNetwork]:
        return [n for n in (_network(e) for e in self.allow) if n is not None]

    def allows_host(self, host: str) -> bool:
        """The host name itself is on the allow-list (its addresses are then trusted)."""
        return host.lower().rstrip(".") in self.allow

    def allows_address(self, ip: IPAddress) -> bool:
        if self.allow_private:
            return True
        candidates = [ip, *_embedded(ip)]
        return any(c in n for c in candidates for n in self.networks() if c.version == n.version)


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip().strip("[]"), strict=False)
    except ValueError:
        return None


def _is_hostname(entry: str) -> bool:
    labels = entry.strip().rstrip(".").split(".")
    return bool(entry.strip()) and all(
        0 < len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) for label in labels
    )


def _embedded(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, NAT64): they reach IPv4 hosts."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    out = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip in _NAT64:
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def internal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (loopback, private, …), or None when it is."""
    for inner in _embedded(ip):
        reason = internal_reason(inner)
        if reason:
            return f"{reason} ({inner} inside {ip})"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL:
        return "unique-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for: dotted, IPv6, or any form the C
    resolver's ``inet_aton`` takes (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``)."""
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        pass
    if h and all(c in "0123456789abcdefxABCDEFX." for c in h) and h[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def split_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL; refuses anything but http(s) with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookRefused("expected an http:// or https:// URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookRefused("expected a host name after http(s)://")
    return scheme, host, port or (443 if scheme == "https" else 80)


def check_static(url: str, policy: WebhooksConfig) -> None:
    """What can be refused without the network: the URL's form, ``localhost``, and literal
    internal addresses (in any spelling) the policy does not allow. Raises WebhookRefused."""
    _scheme, host, _port = split_target(url)
    if policy.allow_private or policy.allows_host(host):
        return
    lowered = host.lower()
    if lowered == "localhost" or lowered.endswith(".localhost"):
        raise WebhookRefused(
            f"host {host} is loopback; webhooks go to public addresses unless the project "
            "file allows it (webhooks.allow_private: true, or webhooks.allow: [HOST or CIDR])"
        )
    ip = literal_address(host)
    if ip is not None:
        check_address(host, ip, policy)


def check_address(host: str, ip: IPAddress, policy: WebhooksConfig) -> None:
    """Refuse ``ip`` (what ``host`` is or resolves to) unless public or allowed."""
    reason = internal_reason(ip)
    if reason and not policy.allows_address(ip):
        shown = host if host == str(ip) else f"{host} ({ip})"
        raise WebhookRefused(
            f"webhook target {shown} is a {reason} address; webhooks go to public addresses "
            "unless the project file allows it (webhooks.allow_private: true, or "
            "webhooks.allow: [HOST or CIDR])",
            address=str(ip),
        )


def url_id(url: str) -> str:
    """A short digest of the whole URL: tells two webhooks apart without showing them."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def redact_url(url: str) -> str:
    """``https://hooks.example.com/…abcd#1f2e3d4c5b6a``: scheme, host and port in clear; the
    path and query (the secret of many chat webhooks) reduced to their last four characters
    when long enough to spare them, user info dropped; the digest of the whole URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return f"(invalid URL)#{url_id(url)}"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    rest = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    if not rest:
        shown = "/"
    elif len(rest) >= TAIL_MIN_SECRET:
        shown = "/…" + rest[-TAIL_SHOWN:]
    else:
        shown = "/…"
    return f"{parts.scheme}://{netloc}{shown}#{url_id(url)}"


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) with the URL, and its path and query, replaced."""
    out = text.replace(url, redact_url(url))
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    for secret in (parts.path + (f"?{parts.query}" if parts.query else ""), parts.path):
        if len(secret) > 1:
            out = out.replace(secret, "/…")
    return out


def config_problems(config: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(key path, message) for every webhook target in a project config the policy refuses."""
    policy: WebhooksConfig = config.webhooks
    found: list[tuple[tuple[str | int, ...], str]] = []
    for i, sink in enumerate(config.monitoring.sinks):
        if sink.kind == "webhook" and sink.url:
            found += _problem(("monitoring", "sinks", i, "url"), sink.url, policy)
    for name, playbook in config.playbooks.items():
        for j, action in enumerate(playbook.actions):
            if action.sink:
                found += _problem(("playbooks", name, "actions", j, "sink"), action.sink, policy)
    return found


def _problem(
    loc: tuple[str | int, ...], url: str, policy: WebhooksConfig
) -> list[tuple[tuple[str | int, ...], str]]:
    try:
        check_static(url, policy)
    except WebhookRefused as exc:
        return [(loc, f"{redact_url(url)}: {exc.message}")]
    return []
