"""Ingestion: OTLP decoding, convention mapping and durable group-committed writes."""
