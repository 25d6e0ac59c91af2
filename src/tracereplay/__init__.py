"""tracereplay: self-hosted LLM observability with whole-trace replay."""

__version__ = "0.1.0"
