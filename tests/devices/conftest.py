"""Helpers to build device-model folders in a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

DECODER = textwrap.dedent('''\
    def decode_uplink(fport, payload, recv_time=None):
        if fport != 1:
            return {"data": {}, "warnings": [], "errors": [f"unknown FPort {fport}"]}
        if len(payload) < 3:
            return {"data": {}, "warnings": [], "errors": ["truncated frame"]}
        return {"data": {"battery": payload[0], "temperature": int.from_bytes(payload[1:3], "big", signed=True) / 10},
                "warnings": [], "errors": []}


    def encode_uplink(readings):
        t = round(readings["temperature"] * 10)
        return 1, bytes([round(readings["battery"])]) + t.to_bytes(2, "big", signed=True)
''')

PROFILE = textwrap.dedent('''\
    id: acme-t1
    vendor: Acme
    model: T1
    family: co2
    lorawan_class: A
    uplink_period_s: 600
    fports: [1]
    decoder: decoder.py
    readings:
      - {quantity: battery, path: battery}
      - {quantity: temperature, path: temperature}
''')

MakeModel = Callable[..., Path]


@pytest.fixture
def make_model(tmp_path: Path) -> MakeModel:
    """Write a model folder: ``make_model(profile=..., decoder=..., examples=..., name=..., files={...})``."""

    def make(profile: str = PROFILE, decoder: str | None = DECODER, examples: str | None = None,
             name: str = "acme/t1", readme: bool = True, files: dict[str, str] | None = None) -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "profile.yaml").write_text(textwrap.dedent(profile))
        if decoder is not None:
            (folder / "decoder.py").write_text(decoder)
        if examples is not None:
            (folder / "examples.yaml").write_text(textwrap.dedent(examples))
        if readme:
            (folder / "README.md").write_text("# test model\n")
        for filename, text in (files or {}).items():
            (folder / filename).write_text(text)
        return folder

    return make
