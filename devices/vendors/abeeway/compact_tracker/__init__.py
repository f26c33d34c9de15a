"""Abeeway Compact Tracker running the Asset Tracker 2.x firmware."""
