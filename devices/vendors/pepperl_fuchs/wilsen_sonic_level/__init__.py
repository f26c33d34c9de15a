"""Pepperl+Fuchs WILSEN.sonic.level wireless ultrasonic level sensor."""
