"""Built-in playbook actions, one module each, all behind
:class:`modelyard.orchestration.playbooks.base.Executor`."""
