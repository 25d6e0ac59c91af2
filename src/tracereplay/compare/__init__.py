"""Trace comparison: what changed between a base and a target trace, and whether it is better."""
