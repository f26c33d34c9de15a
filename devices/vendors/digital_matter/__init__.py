"""Digital Matter device models (Oyster LoRaWAN GPS asset tracker)."""
