"""Rollout: deployment strategies, rollback, retirement; later canary analysis and playbooks."""
