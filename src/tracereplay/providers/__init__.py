"""LLM providers behind one interface (`base.Provider.complete`), the registry that builds them
from settings and resolves model names (`registry`), and model prices (`pricing`).

Importing this package imports nothing: ingestion helper processes use `pricing` alone and
stay clear of the settings machinery and the provider SDKs.
"""
