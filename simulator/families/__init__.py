"""Scenario sections, one module per family: each turns its YAML section into simulated devices."""
