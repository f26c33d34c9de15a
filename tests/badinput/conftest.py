"""Bad-input tests against a running service reuse the fault harness (tests/faults/conftest.py)."""

from tests.faults.conftest import beffroi

__all__ = ["beffroi"]
