"""Dingtek DF703 ultrasonic waste bin level sensor with fire and fall alarms, optional GPS."""
