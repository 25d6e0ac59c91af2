"""Helpers shared by the test suite: a scriptable LLM endpoint and OTel capture utilities."""
