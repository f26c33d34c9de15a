"""Security tests reuse the fault harness: ``beffroi`` starts the service as a process (tests/faults/conftest.py)."""

from tests.faults.conftest import beffroi, recovery, requires_mosquitto

__all__ = ["beffroi", "recovery", "requires_mosquitto"]
