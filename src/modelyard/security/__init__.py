"""Security: identities and roles, API tokens, approvals and the audit chain."""
