"""The dashboard: server-rendered pages (Jinja2, htmx for live parts) over the same service
functions as the REST API and the CLI."""
