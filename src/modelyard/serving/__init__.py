"""The inference server: open protocols, compiled input validation, routing, batching.

Modules, one job each: ``errors`` (HTTP mapping), ``frames`` (the ``Payload`` and ``Frame``
carriers), ``schema`` (validation compiled from a signature) and ``columns`` (one column's
checks), ``protocol_v1`` / ``protocol_v2`` (codecs), ``compiled`` / ``runtime`` (lean predict
paths), ``predictor`` (the core protocol), ``batching``, ``cache``, ``throttle``, ``routing``
(canary, segments, sticky, fallback, shadow as wrappers), ``loading`` (versions → runtimes),
``sources`` (where plans come from), ``endpoint`` (one endpoint of a snapshot), ``plan``
(snapshots refreshed from the store), ``telemetry`` (where answers are reported), ``metrics``,
``logs``, ``tracing``, ``predlog`` and ``durable_log`` (the prediction log writers), ``auth``
(bearer tokens), ``body_limit``, ``explain``, ``openapi``, ``inference`` (the inference routes: one
skeleton, a codec per protocol), ``app`` (ASGI routing and status), ``stack`` (the stack and
the uvicorn options it runs under), ``replay`` and ``convert`` (ONNX Runtime, parity-checked).
"""
