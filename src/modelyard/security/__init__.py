"""Security: identities and roles, API tokens, dashboard sessions, PII hashing, the webhook
address policy and the audit chain."""
