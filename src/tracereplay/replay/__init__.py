"""Trace replay: the request and its validation, the timeline, the executor, the job."""
