"""Web adapters: the management API (``api``) and the dashboard (``ui``, its sign-in and security
headers, charts and monitoring views). Parse, authorise, call a service, render."""
