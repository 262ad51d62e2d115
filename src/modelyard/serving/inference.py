"""The inference routes: one skeleton, a codec per protocol.

``Inference.infer`` is every predict route: admit (the endpoint's throttle, before the body is
read, so an overloaded endpoint sheds load cheaply; a refusal is answered without a prediction
id) → read the body → ``codec.decode`` → the endpoint's wrapper stack → ``codec.encode`` →
send → telemetry (``telemetry.Telemetry``, after the answer is sent). A codec turns the bytes
of one protocol into a request (``payload``, ``want``) and an answer into bytes and its
content headers: ``V1`` (KServe V1, ``protocol_v1``) and ``V2`` (Open Inference Protocol,
``protocol_v2``, binary tensors included). ``Inference.explain`` is ``:explain``: the same
body, codec and failure path, answered by the champion's ``VersionPredictor.explain``.

A refusal or failure after admission answers with the one JSON error shape and the prediction
id; a model failure answers 500 and the server keeps serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol, TypeVar

from modelyard.core.errors import ModelyardError
from modelyard.serving import protocol_v1, protocol_v2
from modelyard.serving.endpoint import Endpoint
from modelyard.serving.errors import (
    ModelFailed,
    NotReady,
    PayloadTooLarge,
    error_body,
    error_headers,
)
from modelyard.serving.frames import Payload
from modelyard.serving.predictor import Answer, IdMaker, InferRequest, Predictor
from modelyard.serving.telemetry import Telemetry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Header = tuple[bytes, bytes]

log = logging.getLogger("modelyard.serving")
JSON: Header = (b"content-type", b"application/json")
AS_JSON: tuple[Header, ...] = (JSON,)


class Decoded(Protocol):
    @property
    def payload(self) -> Payload: ...
    @property
    def want(self) -> frozenset[str] | None: ...


R = TypeVar("R", bound=Decoded)


class Codec(Protocol[R]):
    protocol: str  # its label in metrics and traces

    def decode(self, body: bytes, scope: Scope) -> R: ...

    def encode(self, answer: Answer, pid: str, request: R) -> bytes: ...

    def content(self, request: R) -> tuple[Header, ...]:
        """The content headers of the answer ``encode`` made for ``request``."""
        ...


class V1:
    protocol = "v1"

    def decode(self, body: bytes, scope: Scope) -> protocol_v1.V1Request:
        return protocol_v1.decode_request(body)

    def encode(self, answer: Answer, pid: str, request: protocol_v1.V1Request) -> bytes:
        return protocol_v1.encode(answer, pid, request.want)

    def content(self, request: protocol_v1.V1Request) -> tuple[Header, ...]:
        return AS_JSON


class V2:
    protocol = "v2"

    def decode(self, body: bytes, scope: Scope) -> protocol_v2.V2Request:
        return protocol_v2.decode(body, _header(scope, b"inference-header-content-length"))

    def encode(self, answer: Answer, pid: str, request: protocol_v2.V2Request) -> bytes:
        out, request.head_len = protocol_v2.encode(
            answer, pid, request.id, request.binary, request.binary_all
        )
        return out

    def content(self, request: protocol_v2.V2Request) -> tuple[Header, ...]:
        if request.head_len is None:
            return AS_JSON
        return (
            (b"content-type", b"application/octet-stream"),
            (b"inference-header-content-length", str(request.head_len).encode()),
        )


V1_CODEC = V1()
V2_CODEC = V2()


class Inference:
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.new_id = IdMaker()

    async def infer(
        self,
        ep: Endpoint,
        version: str | None,
        codec: Codec[R],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """One predict request on ``ep`` (its routing, or the version asked for by number)."""
        started = time.perf_counter()
        pid = self.new_id()
        with ep.limiter.admit(scope["headers"]):  # Throttled: answered by the app, no id
            try:
                target: Predictor | None = ep.predictor
                if version is not None:
                    target = ep.version(version)
                body = await read_body(scope, receive, ep.config.max_body_bytes)
                decoded = codec.decode(body, scope)
                req = InferRequest(decoded.payload, pid, decoded.want, started=started)
                if target is None:
                    raise NotReady(ep.why_not())
                wanted = ep.routing_headers
                if wanted:  # only the headers this endpoint's routing reads
                    for k, v in scope["headers"]:
                        if k in wanted:
                            req.headers[k.decode("latin-1")] = v.decode("latin-1")
                answer = await target.predict(req)
                out = codec.encode(answer, pid, decoded)
                await self.telemetry.commit(ep.name, ep.config.prediction_log, req, answer)
            except ModelyardError as exc:
                await self.failed(send, ep, exc, pid, codec.protocol, started)
                return
            except Exception as exc:  # a bug of ours: still one shape, still the id
                await self.failed(send, ep, _internal(exc, pid), pid, codec.protocol, started)
                return
        content = codec.content(decoded)
        await send_body(send, 200, out, *content, *_answer_headers(pid, answer))
        self.telemetry.answered(ep.name, ep.config.prediction_log, req, answer, codec.protocol)
        for hook in req.after:
            hook()

    async def explain(self, ep: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        """Per-feature contributions from the endpoint's champion: exact for linear models,
        TreeSHAP (on a worker thread, through the optional shap package) for tree ensembles."""
        started = time.perf_counter()
        pid = self.new_id()
        try:
            body = await read_body(scope, receive, ep.config.max_body_bytes)
            payload = protocol_v1.decode(body)
            vp = ep.version(None)
            result = await vp.explain(payload)
            out = protocol_v1.encode_explanation(result, vp.schema.names, vp.info.ref, pid)
        except ModelyardError as exc:
            await self.failed(send, ep, exc, pid, "v1-explain", started)
            return
        except Exception as exc:  # shap failing on an input: one shape, still the id
            await self.failed(send, ep, _internal(exc, pid), pid, "v1-explain", started)
            return
        await send_body(
            send,
            200,
            out,
            JSON,
            (b"x-prediction-id", pid.encode()),
            (b"x-model-version", vp.info.ref.encode()),
        )

    async def failed(
        self, send: Send, ep: Endpoint, exc: ModelyardError, pid: str, protocol: str, started: float
    ) -> None:
        self.telemetry.failed(ep.name, pid, exc, protocol, started)
        await send_error(send, exc, pid)


# ---- the ASGI plumbing the app shares --------------------------------------------------------
def _internal(exc: Exception, pid: str) -> ModelyardError:
    log.exception("internal error", extra={"prediction_id": pid}, exc_info=exc)
    return ModelFailed(f"internal error: {type(exc).__name__}")


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None


def _answer_headers(pid: str, answer: Answer) -> list[Header]:
    out = [(b"x-prediction-id", pid.encode()), (b"x-model-version", answer.version.ref.encode())]
    if answer.fallback_reason:
        out.append((b"x-fallback-reason", answer.fallback_reason.encode()))
    return out


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body of {int(declared):,} bytes exceeds this endpoint's limit of "
            f"{limit:,} bytes",
            hint="split the request or raise max_body_bytes for the endpoint",
        )
    msg = await receive()
    body: bytes = msg.get("body", b"")
    if not msg.get("more_body"):
        return body
    chunks = [body]
    size = len(body)
    while msg.get("more_body"):
        msg = await receive()
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"request body exceeds this endpoint's limit of {limit:,} bytes",
                hint="split the request or raise max_body_bytes for the endpoint",
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def send_body(send: Send, status: int, body: bytes, *headers: Header) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, exc: ModelyardError, pid: str | None = None) -> None:
    headers = [JSON, *error_headers(exc)]
    if pid:
        headers.append((b"x-prediction-id", pid.encode()))
    await send_body(send, exc.http_status, error_body(exc, pid), *headers)
