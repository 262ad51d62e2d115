"""Web adapters: the management API (and later the dashboard). Parse, authorise, call, render."""
