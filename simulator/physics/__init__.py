"""Physical models of the four families (classroom air, rivers, waste bins, flocks) and device faults.

Each model is plain Python with named, documented parameters; its randomness comes from an injected
``numpy.random.Generator``, so a seed reproduces a run exactly. Models know nothing of LoRaWAN or MQTT.
"""
