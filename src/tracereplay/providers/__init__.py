"""LLM providers behind one interface (`base.Provider.complete`), the registry that builds them
from settings and resolves model names (`registry`), and the model catalog (`catalog`).

Providers talk to LLMs only: prices live in `tracereplay.pricing`, storage in `tracereplay.db`.
Importing this package imports nothing, so a server that only ingests never loads the SDKs.
"""
