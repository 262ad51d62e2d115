"""Registry: datasets, runs, model versions, lineage and the lifecycle, over the store."""
