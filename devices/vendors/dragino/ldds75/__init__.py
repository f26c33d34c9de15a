"""Dragino LDDS75 ultrasonic distance sensor (firmware 1.1.4 frame)."""
