"""The HTTP surface: OTLP receivers and the REST API under /api/v1."""
