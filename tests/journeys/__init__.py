"""The journey matrix: a new user's whole path, over real data shapes and model types.

One parametrised journey (``test_journeys.py``), driven only through the documented CLI
(``modelyard …`` in-process, ``tests/support/cli.py``), the Python API (``modelyard.Project``)
and a real ``modelyard serve`` on a free port:

1. ``modelyard data add`` train and eval versions (Parquet), tagged by the project file's family
   entry (``tumours:`` covers ``tumours-train``/``tumours-eval``) or afterwards with
   ``modelyard data tag REF --target … --protected …`` (digest unchanged);
2. the champion trained with lineage (``start_run`` with JSON-typed params, ``use_dataset``
   train + eval, ``log_model``);
3. ``modelyard gate`` with no champion (one cell first errors on purpose: exit 3, state kept);
   every figure recomputed (roc_auc / r2, the backtick segment, Fairlearn's selection rates and
   four-fifths ratio, the tiny group shown but not judged);
4. approval by a second identity (``approve_as_second_identity`` in ``yard.py``: the author is
   refused, a reviewer approves — the one place to adapt when approvals move to principals);
   ``deploy`` to production;
5. a candidate on DIFFERENT columns, gated against the champion (both sides' figures
   recomputed); one cell: rejected by a reviewer, gate exits 4, ``--reconsider --reason``;
   ``deploy --strategy canary`` (message and plan checked);
6. KServe V1 row by row (each answer equal to the local ``predict`` of the version named in
   ``x-model-version``), V1 with ``parameters.probabilities`` (equal to ``predict_proba``),
   V2 through ``tritonclient`` (BYTES for strings and datetimes), an unseen category (the
   inferred input policy passes it) and an extra field (``inputs.extra_fields: ignore``);
7. ``modelyard feedback FILE`` (every label joined), ``modelyard monitor run --once`` (windows
   judged, versions and error rates checked);
8. ``modelyard lineage prediction ID --json``: version, run (params with their JSON types),
   both datasets, the feedback label;
9. ``modelyard rollback`` (the canary off, the champion alone answers on the running server),
   ``modelyard retire`` (retired, deploying it again refused).

One project and one server are shared by every cell of the module (each cell has its own
model, endpoint and dataset family; the server discovers new endpoints by its plan refresh).

The matrix (rows: data shapes, columns: model types), how to run it and its run time are in
``tests/journeys/README.md``.

Run it::

    .venv/bin/python -m pytest tests/journeys -n 0          # default: 300 rows per dataset, ~30 s
    .venv/bin/python -m pytest tests/journeys -n 0 -m journeys_full   # full sizes

The cells are marked ``slow`` (they share a server) and run in ``make test``.
"""
