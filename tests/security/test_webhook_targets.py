"""Finding 8: alert and playbook webhooks never reach an internal address — loopback,
link-local (the cloud metadata service), private, unique-local, multicast, unspecified, in any
spelling (IPv4-mapped IPv6, decimal, hex, short forms) or behind a host name — unless the
project file allows it explicitly; the check holds when the project file loads, and again
after resolution when a request is sent; redirects are not followed; the URL's secret part is
never stored or shown."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelyard.core.errors import ConfigError
from modelyard.core.project import parse_project
from modelyard.core.webhooks import WebhookRefused, WebhooksConfig, redact_url
from modelyard.monitoring.alerts import AlertEvent
from modelyard.monitoring.sinks import Dispatcher, WebhookSink, build_sinks
from modelyard.registry.registry import Registry
from modelyard.store.alerts import AlertStore
from tests.support.tls import self_signed

SECRET = "T0AAAAAAA/B0BBBBBBBB/s3cr3tXXXXXXXXXXXXXXXXabcd"


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what reaches it; ``redirect_to`` makes
    it answer 302 to that URL."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.hits: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.hits.append({"host": self.headers["Host"], "path": self.path, "body": body})
                self.send_response(302 if redirect_to else 204)
                if redirect_to:
                    self.send_header("Location", redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _hostile(port: int) -> list[str]:
    """Targets that reach this machine or an internal network (``port``: the receiver's)."""
    return [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        f"http://127.0.0.1:{port}/{SECRET}",
        f"http://localhost:{port}/{SECRET}",
        f"http://app.localhost:{port}/",
        f"http://[::1]:{port}/",
        "http://10.0.0.5/hook",
        "http://172.16.3.4/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",
        f"http://0.0.0.0:{port}/",
        f"http://[::]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",  # 169.254.169.254, mapped
        f"http://[64:ff9b::7f00:1]:{port}/",  # NAT64 of 127.0.0.1
        f"http://[2002:7f00:1::]:{port}/",  # 6to4 of 127.0.0.1
        f"http://2130706433:{port}/",  # 127.0.0.1 in decimal
        f"http://0x7f000001:{port}/",  # … in hex
        f"http://127.1:{port}/",  # … short form
        "http://[fd12:3456::1]/hook",  # unique-local
        "http://[fe80::1]/hook",  # link-local
        "http://224.0.0.1/hook",  # multicast
        f"https://127.0.0.1:{port}/{SECRET}",
    ]


def _loopback_name() -> str:
    """A host name (not ``localhost``) that resolves to this machine: its own name."""
    name = socket.gethostname()
    try:
        addrs = {i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        pytest.skip(f"this machine's name {name} does not resolve")
    if any(ipaddress.ip_address(str(a).split("%")[0]).is_global for a in addrs):
        pytest.skip(f"this machine's name {name} resolves to a public address")
    return name


def _event(alert_id: int) -> AlertEvent:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return AlertEvent(
        alert_id, "fired", "arrests", "errors", "critical", 0.2, 0.1, "up", at, "error_rate"
    )


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    r = Registry.init(tmp_path / "p", env={"MODELYARD_USER": "ops"}, identity="os")
    yield r
    r.close()


def _alert(reg: Registry) -> int:
    with reg.store.tx() as conn:
        return int(AlertStore.open_alert(conn, "arrests", "errors", "critical", 0.2, "up", {}))


def test_every_hostile_target_is_refused_when_sent_and_nothing_reaches_the_receiver(
    reg: Registry,
) -> None:
    alert_id = _alert(reg)
    with Receiver() as receiver:
        targets = [*_hostile(receiver.port), f"http://{_loopback_name()}:{receiver.port}/"]
        refused = []
        for url in targets:
            sink = WebhookSink(url, retries=3, timeout_s=2)
            with pytest.raises(WebhookRefused) as caught:
                sink.send(_event(alert_id))
            refused.append(url)
            assert SECRET not in str(caught.value)
        out = Dispatcher(reg.store, [WebhookSink(u, retries=3) for u in targets]).deliver(
            [_event(alert_id)]
        )
    assert len(refused) == len(targets)
    assert receiver.hits == [], "no request reached the internal receiver"
    assert out == {"delivered": 0, "dead": len(targets)}
    dead = AlertStore(reg.store).deliveries(status="dead")
    assert len(dead) == len(targets) and all(d.attempts == 1 for d in dead), "no retries"
    public_only = "public addresses unless the project file allows it"
    assert all(public_only in (d.error or "") for d in dead)


@pytest.mark.parametrize("where", ["sink", "notify"])
def test_the_project_file_refuses_literal_internal_targets_naming_file_key_and_rule(
    where: str,
) -> None:
    for url in _hostile(8080):
        if where == "sink":
            text = (
                f"monitoring:\n  sinks:\n    - kind: log\n    - {{kind: webhook, url: '{url}'}}\n"
            )
            key = "monitoring.sinks.1.url"
        else:
            text = (
                "playbooks:\n  page:\n    when: {rules: [errors]}\n"
                f"    actions: [{{do: notify, sink: '{url}'}}]\n"
            )
            key = "playbooks.page.actions.0.sink"
        with pytest.raises(ConfigError) as caught:
            parse_project(text, "proj/modelyard.yaml")
        message = caught.value.message
        assert f"proj/modelyard.yaml:4: {key}:" in message, message
        assert "public addresses unless the project file allows it" in message
        assert "webhooks.allow_private: true" in message
        assert SECRET not in message, "the error shows the URL redacted"


def test_an_allowed_internal_receiver_works_only_with_the_explicit_opt_in(
    reg: Registry,
) -> None:
    alert_id = _alert(reg)
    with Receiver() as receiver:
        url = f"http://127.0.0.1:{receiver.port}/{SECRET}"
        text = f"monitoring:\n  sinks: [{{kind: webhook, url: '{url}'}}]\n"
        with pytest.raises(ConfigError):
            parse_project(text)
        for opt_in in ("webhooks: {allow_private: true}\n", "webhooks: {allow: [127.0.0.0/8]}\n"):
            config = parse_project(text + opt_in)
            sinks = build_sinks(config.monitoring.sinks, config.webhooks)
            assert Dispatcher(reg.store, sinks).deliver([_event(alert_id)])["delivered"] == 1
        with pytest.raises(WebhookRefused):  # the same sink without the opt-in
            WebhookSink(url).send(_event(alert_id))
    assert [h["path"] for h in receiver.hits] == [f"/{SECRET}", f"/{SECRET}"]
    assert json.loads(receiver.hits[0]["body"])["alert"]["alert_id"] == alert_id


def test_an_allowed_host_name_is_connected_at_the_address_checked_with_its_host_header(
    reg: Registry,
) -> None:
    alert_id = _alert(reg)
    with Receiver() as receiver:
        url = f"http://localhost:{receiver.port}/hook"
        sink = WebhookSink(url, policy=WebhooksConfig(allow=("localhost",)))
        sink.send(_event(alert_id))
    assert [h["host"] for h in receiver.hits] == [f"localhost:{receiver.port}"]


def test_over_tls_the_pinned_address_keeps_the_name_for_sni_and_the_certificate_check(
    reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    cert, key = self_signed(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember(_sock: Any, name: str | None, _ctx: Any) -> None:
        server_names.append(name)

    context.sni_callback = remember
    alert_id = _alert(reg)
    with Receiver() as receiver:
        receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
        policy = WebhooksConfig(allow=("localhost", "127.0.0.1"))
        WebhookSink(f"https://localhost:{receiver.port}/hook", policy=policy).send(_event(alert_id))
        # the same server by address: the certificate (for localhost) does not match
        with pytest.raises(Exception, match=r"(?i)certificate|hostname"):
            WebhookSink(f"https://127.0.0.1:{receiver.port}/hook", policy=policy).send(
                _event(alert_id)
            )
    assert [h["host"] for h in receiver.hits] == [f"localhost:{receiver.port}"]
    assert server_names[0] == "localhost", "SNI names the host, not the pinned address"


def test_a_redirect_to_an_internal_address_is_not_followed(reg: Registry) -> None:
    alert_id = _alert(reg)
    with Receiver() as inside, Receiver(f"http://127.0.0.2:{inside.port}/x") as outside:
        # only 127.0.0.1 is allowed; the redirect points at another loopback address
        sink = WebhookSink(
            f"http://127.0.0.1:{outside.port}/hook",
            retries=0,
            policy=WebhooksConfig(allow=("127.0.0.1",)),
        )
        out = Dispatcher(reg.store, [sink]).deliver([_event(alert_id)])
    assert out == {"delivered": 0, "dead": 1}
    assert len(outside.hits) == 1 and inside.hits == []
    [dead] = AlertStore(reg.store).deliveries(status="dead")
    assert "302 (redirects are not followed)" in (dead.error or "")


def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_connected_there(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker's DNS answers a public address first and loopback afterwards (this
    resolver is the one stand-in: a real rebinding DNS server needs the network). Checking the
    name and then letting the client resolve it again would reach loopback; the transport
    resolves once per request and connects to the address it checked."""
    alert_id = _alert(reg)
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.rebind.test":
            return real(host, port, *args, **kwargs)
        ip = "93.184.215.14" if not answers else "127.0.0.1"  # public, then loopback
        answers.append(ip)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with Receiver() as receiver:
        sink = WebhookSink(f"http://hooks.rebind.test:{receiver.port}/", retries=0, timeout_s=0.5)
        with pytest.raises(Exception) as first:
            sink.send(_event(alert_id))  # sent to the public address (unreachable here)
        assert not isinstance(first.value, WebhookRefused)
        assert answers == ["93.184.215.14"], "resolved once, connected to what was checked"
        with pytest.raises(WebhookRefused, match="loopback"):
            sink.send(_event(alert_id))  # the next request sees loopback: refused
    assert receiver.hits == []
    assert answers == ["93.184.215.14", "127.0.0.1"]


def test_the_stored_and_shown_sink_name_holds_no_secret(reg: Registry) -> None:
    alert_id = _alert(reg)
    url = f"https://hooks.example.com/services/{SECRET}?token=q5ecret"
    shown = redact_url(url)
    assert shown.startswith("https://hooks.example.com/…") and shown.count("#") == 1
    assert SECRET[:-4] not in shown and "q5ecret" not in shown
    assert redact_url(url) == shown != redact_url(url + "x"), "a digest tells webhooks apart"
    assert "pass" not in redact_url("https://user:pass@hooks.example.com/x")
    sink = WebhookSink(url, retries=0, timeout_s=0.5)
    assert sink.name == f"webhook:{shown}"
    Dispatcher(reg.store, [sink]).deliver([_event(alert_id)])  # fails: no network here
    [row] = AlertStore(reg.store).deliveries(alert_id=alert_id)
    assert row.status == "dead"
    stored = json.dumps(row, default=str)
    assert SECRET not in stored and "q5ecret" not in stored
    for path in reg.settings.state_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the secret is stored in {path}"


def test_a_playbook_notify_is_refused_at_run_time_and_its_record_holds_no_secret(
    reg: Registry,
) -> None:
    from modelyard.core.monitor_config import PlaybookConfig
    from modelyard.orchestration.playbooks import Playbooks
    from modelyard.store.playbooks import PlaybookStore

    with Receiver() as receiver:
        url = f"http://127.0.0.1:{receiver.port}/{SECRET}"
        # built in code, not loaded from a file: only the send-time check stands in the way
        cfg = PlaybookConfig.model_validate(
            {"when": {"rules": ["errors"]}, "actions": [{"do": "notify", "sink": url}]}
        )
        alert_id = _alert(reg)
        event = {"alert_id": alert_id, "event": "fired", "endpoint": "arrests", "rule": "errors",
                 "tier": "critical", "value": 0.2, "threshold": 0.1, "message": "up"}  # fmt: skip
        [record] = Playbooks(reg, playbooks={"page": cfg}).handle([event])
    assert record.status == "failed" and "loopback" in record.details["error"]
    assert receiver.hits == []
    actions = [asdict(a) for a in PlaybookStore(reg.store).history(playbook="page")]
    stored = json.dumps(actions, default=str, ensure_ascii=False)
    audit = json.dumps(
        [asdict(e) for e in reg.store.chain.entries()], default=str, ensure_ascii=False
    )
    assert redact_url(url) in stored
    assert SECRET not in stored and SECRET not in audit
