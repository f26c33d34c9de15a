"""Decentlab device models (protocol v2 sensor-group payloads)."""
