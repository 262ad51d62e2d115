"""Monitoring: baselines, mergeable window sketches, drift tests and batch drift reports.

Modules (each with one job, imported lazily by callers):

* ``layout``    — the bins a baseline defines: quantile edges for numbers, categories for labels.
* ``sketch``    — ``WindowSketch``: counts on a layout, updated per request or per batch, merged
  exactly across replicas and windows, serialised to JSON.
* ``baseline``  — ``Baseline``: a layout plus the reference sketch and reference statistics, built
  from a DataFrame or from a registered dataset's profile.
* ``columns``   — ``ColumnPair``: what every drift test reads, prepared once per feature from raw
  samples (raw mode) or from a baseline and a sketch (sketch mode).
* ``stats``     — the statistics themselves (KS, Wasserstein, PSI, Jensen-Shannon, chi-square).
* ``drift_tests`` — the ``DriftTest`` protocol and the built-in tests.
* ``drift``     — settings, per-feature policies, multiplicity control and the verdicts.
* ``multivariate`` — drift of the joint distribution by a domain classifier's AUC.
* ``report``    — JSON and self-contained HTML renderings of a drift result.
* ``window``    — ``LiveWindows``: clock-aligned window sketches a server replica fills per
  request and drains in the background.
* ``version_baseline`` — the baseline a model version is monitored against, built the same way
  in every process from its registered training data.
* ``live``      — ``LiveMonitor``: one per server replica, observing answers into windows.
* ``evaluate``  — the monitor: judges closed windows against each version's baseline.
* ``alerts``    — tiered alert rules over window signals; ``sinks`` — where alert events go.
* ``delivery``  — the one webhook delivery path (policy, retries, backoff): sinks and the
  playbook ``notify`` action use it.
* ``verdicts``  — reading the monitor's stored verdicts (signals, detail, newest per version).
* ``action_log`` — the playbook actions recorded, with the alert behind each.
* ``leader``    — the lease that makes one monitor process the leader.
* ``feedback``  — feedback labels and review decisions, checked for the adapters.
* ``quality``   — live quality per window from joined feedback labels.
* ``review``    — the human review queue, chosen in the background.
* ``exporter``  — the monitor's signals as Prometheus gauges.
* ``outofcore`` — window sketches from months of Parquet prediction logs.

Nothing here imports serving, gates or the CLI; importing this package imports nothing heavy.
"""
