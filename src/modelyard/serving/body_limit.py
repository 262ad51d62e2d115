"""Request bodies bounded before they are read, and read within a deadline: one ASGI wrapper
for every app ``modelyard serve`` and ``modelyard ui`` run (inference, management API,
dashboard), each wiring it in one line.

* ``Content-Length`` above the limit → 413 at once: not one byte of the body is read, and the
  answer says ``connection: close`` so uvicorn drops the rest of the upload instead of parsing
  it. A malformed ``Content-Length`` → 400.
* A body without a length (chunked) is counted as it streams; the chunk that crosses the limit
  → 413, so at most ``limit`` bytes are ever held.
* A body that has not arrived whole ``timeout_s`` after the app was called (its headers are in)
  → 408, so a slow client cannot hold a request and its buffers open for ever.

Hand-written because uvicorn offers neither: it hands the app every body chunk it is asked for,
without a size limit, and has no body-read deadline (``timeout_keep_alive`` covers only the
idle time between requests; its h11 ``max_incomplete_event_size`` bounds headers, and only on
the h11 parser). The error answers use the one JSON shape (``errors.error_body``).

Cost on the inference path: not measurable in process (2026-12-04, best of 12 x 2,000 one-row
V1 requests on a busy 2-core machine: 59.6 µs/request through the wrapper, 64.2 µs without).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from modelyard.core.errors import ModelyardError
from modelyard.serving.errors import MalformedRequest, PayloadTooLarge, RequestTimeout, error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Wrap ``app`` so that no request body larger than ``max_bytes`` is read, and no body read
    lasts longer than ``timeout_s``. Works as a Starlette ``Middleware`` too."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not (value.isdigit() and len(value) <= 19):
                    await _refuse(send, MalformedRequest("Content-Length must be a whole number"))
                    return
                if int(value) > self.max_bytes:
                    await _refuse(send, self._too_large(int(value)))
                    return
                break
        loop = asyncio.get_running_loop()
        guard = _Guard(self, receive, send, loop.time() + self.timeout_s)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if guard.refused is None:  # not ours: let the server (or the app's own layers) see it
                raise

    def _too_large(self, size: int | None) -> PayloadTooLarge:
        what = f"request body of {size:,} bytes" if size is not None else "request body"
        return PayloadTooLarge(
            f"{what} exceeds this server's limit of {self.max_bytes:,} bytes",
            hint="send a smaller body, or raise http.max_body_bytes / http.max_form_bytes "
            "in the project file",
            limit_bytes=self.max_bytes,
        )


class _Guard:
    """One request's view of the body: counted and timed; after a refusal the app's own
    answer is dropped (the refusal was sent) and it sees the client as gone."""

    def __init__(self, limit: BodyLimit, receive: Receive, send: Send, deadline: float) -> None:
        self.limit = limit
        self._receive = receive
        self._send = send
        self.deadline = deadline
        self.seen = 0
        self.complete = False  # the whole body is in: later receives wait for a disconnect
        self.started = False
        self.refused: ModelyardError | None = None

    async def receive(self) -> Message:
        if self.refused is not None:
            return {"type": "http.disconnect"}
        if self.complete:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                msg = await self._receive()
        except TimeoutError:
            await self.refuse(
                RequestTimeout(
                    f"the request body did not arrive within {self.limit.timeout_s:g} s",
                    hint="send the whole body promptly, or raise http.body_timeout_s",
                )
            )
        if msg["type"] == "http.request":
            self.seen += len(msg.get("body", b""))
            if self.seen > self.limit.max_bytes:
                await self.refuse(self.limit._too_large(None))
            self.complete = not msg.get("more_body", False)
        return msg

    async def refuse(self, exc: ModelyardError) -> None:
        """Answer with ``exc`` (unless the app already began its answer), then raise it so the
        app stops reading; its own error answer, if any, is dropped."""
        self.refused = exc
        if not self.started:
            self.started = True
            await _refuse(self._send, exc)
        raise exc

    async def send(self, message: Message) -> None:
        if self.refused is not None:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _refuse(send: Send, exc: ModelyardError) -> None:
    body = error_body(exc)
    await send(
        {
            "type": "http.response.start",
            "status": exc.http_status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
