"""toolkit: place batches of exchange orders from notebooks (filled in as modules land)."""
