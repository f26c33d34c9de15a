"""Dingtek device models (DF703 waste bin level sensor)."""
