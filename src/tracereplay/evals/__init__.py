"""Evaluators: the types that score traces, the pipeline that runs them on replays, live
traffic and on demand, and the scores they store."""
