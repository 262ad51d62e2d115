"""Security: identities and roles, API tokens, approvals, the audit chain (and the database
grants that protect it), encryption keys."""
