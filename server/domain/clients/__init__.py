"""Relying parties (the bank's systems) and their API keys."""
