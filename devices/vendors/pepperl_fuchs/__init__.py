"""Pepperl+Fuchs device models (WILSEN.sonic.level wireless ultrasonic level sensor)."""
