"""Built-in gate checks, one module each, all behind :class:`modelyard.gates.base.Check`."""
