"""Terminal output shared by the cli and the demo: the rich consoles, tables, lifecycle-state
colours and JSON (``render``), and lineage and prediction trees (``lineage_view``)."""
