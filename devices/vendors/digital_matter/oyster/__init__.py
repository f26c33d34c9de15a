"""Digital Matter Oyster rugged battery-powered LoRaWAN GPS asset tracker."""
