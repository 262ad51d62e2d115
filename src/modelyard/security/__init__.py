"""Security: identities and roles, API tokens, dashboard sessions, PII hashing, the webhook
address policy, the audit chain (and the database grants that protect it), encryption keys."""
