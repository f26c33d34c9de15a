"""Abeeway device models (Compact Tracker, Asset Tracker 2 firmware)."""
