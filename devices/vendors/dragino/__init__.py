"""Dragino device models (LDDS75 ultrasonic distance sensor, LGT-92 GPS tracker)."""
