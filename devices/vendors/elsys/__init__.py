"""Elsys device models (type-value payloads)."""
