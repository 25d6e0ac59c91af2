"""Prompt templates: immutable versions, labels, rendering (`templates`), and the service over them."""
