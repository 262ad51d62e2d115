"""Security findings, one test module per finding (docs/security.md)."""
