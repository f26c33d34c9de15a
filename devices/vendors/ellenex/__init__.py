"""Ellenex device models (PLS2-L submersible level transmitter)."""
