"""Evaluators: the types that score traces, and (to come) the pipeline that runs them."""
