"""Milesight device models (channel/type item payloads on fPort 85)."""
