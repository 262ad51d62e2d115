"""Registry: datasets, runs, model versions, lineage, approvals and the lifecycle, over the
store."""
