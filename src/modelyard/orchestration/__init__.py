"""Orchestration: the workflows that compose the services into what operators run.

Deployment strategies and rollback (``operations``), canary analysis (``canary``), the monitor
pass (``monitor_pass``: judge windows, raise alerts, run playbooks), the feedback join
(``feedback``), playbooks (the ``playbooks`` package: runner and one module per action), the
continuous-training triggers (``triggers``) and the retrain path they and the ``retrain`` action
run (``retrain``), retirement (``retirement``), the shadow report (``shadow_report``),
prediction lineage (``prediction_lineage``) and the signals alert rules read (``signals``).
Adapters (cli, web) call these; these call the services (registry, gates, serving, monitoring,
security).
"""
