"""Projects and their API keys."""
