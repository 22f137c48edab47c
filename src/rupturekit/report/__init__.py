"""Reports: corpus descriptions now; agreement reports build on this."""
