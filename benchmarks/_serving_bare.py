"""The reference floor for benchmarks/serving.py: a bare Starlette + uvicorn app around ``predict``.

Run in modelyard's own venv (it already has starlette and uvicorn)::

    python benchmarks/_serving_bare.py --model model.joblib --host 127.0.0.1 --port 8000

``POST /predict`` takes KServe-V1-shaped JSON ``{"instances": [[...], ...]}`` (rows in the
model's feature order) and answers ``{"predictions": [...]}``; ``GET /health`` answers 200 once the
model is loaded (rows with strings, as the flights pipelines take, become a DataFrame on the
model's fitted columns). No validation, no batching, no access log: the least a Python server
can do.
"""

from __future__ import annotations

import argparse
import json
import warnings

import joblib
import numpy as np
import pandas as pd
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The models were fitted on a DataFrame; scoring a bare array would warn on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


def build_app(model_path: str) -> Starlette:
    model = joblib.load(model_path)

    async def predict(request: Request) -> Response:
        payload = json.loads(await request.body())
        try:
            rows = np.asarray(payload["instances"], dtype=np.float64)
        except ValueError:  # strings among the features: the columns the model was fitted on
            rows = pd.DataFrame(payload["instances"], columns=model.feature_names_in_)
        preds = model.predict(rows)
        body = json.dumps({"predictions": preds.tolist()})
        return Response(body, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    return Starlette(
        routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.model),
        host=args.host,
        port=args.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
