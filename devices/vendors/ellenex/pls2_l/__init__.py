"""Ellenex PLS2-L low-power submersible level transmitter for liquid media."""
