"""Adeunis device models (frame-code payloads)."""
