"""Dragino LGT-92 LoRaWAN GPS tracker."""
