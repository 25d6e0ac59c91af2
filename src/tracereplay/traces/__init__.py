"""Trace queries and retention."""
