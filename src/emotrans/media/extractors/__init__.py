"""Feature extractors: one module per extractor, listed in :mod:`.registry`."""
