"""Prices: the price book (bundled genai-prices data, server and project overrides) and the
project overrides' storage. Ingestion prices spans with it when they are stored; replay and
the model catalog read it too."""
