"""``beffroi devices new <vendor> <model>``: a new model folder that loads and passes ``devices check`` at once.

The scaffold is a small worked example (battery % and temperature on fPort 1) rather than empty stubs, so the
integrator starts from something that runs and replaces the byte layout, keeping the shape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from devices.schema import FAMILIES

__all__ = ["scaffold", "slug", "ScaffoldError"]


class ScaffoldError(Exception):
    """The folder exists already or the names cannot make a profile id."""


def slug(text: str, sep: str) -> str:
    """``"Pepperl+Fuchs"`` -> ``pepperl_fuchs`` (sep ``_``) or ``pepperl-fuchs`` (sep ``-``)."""
    return re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep)


def scaffold(root: Path, vendor: str, model: str, family: str = "co2") -> Path:
    """Create ``root/<vendor>/<model>/`` with profile.yaml, decoder.py, examples.yaml and README.md."""
    if family not in FAMILIES:
        raise ScaffoldError(f"family {family!r} is not one of {', '.join(FAMILIES)}")
    vendor_dir, model_dir = slug(vendor, "_"), slug(model, "_")
    if not vendor_dir or not model_dir:
        raise ScaffoldError(f"{vendor!r} / {model!r}: vendor and model need letters or digits")
    folder = Path(root) / vendor_dir / model_dir
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists; pick another model name or edit it")
    profile_id = f"{slug(vendor, '-')}-{slug(model, '-')}"
    folder.mkdir(parents=True)
    names = {"id": profile_id, "vendor": vendor, "model": model, "family": family,
             # JSON strings are YAML double-quoted scalars: any vendor or model text stays valid YAML
             "vendor_q": json.dumps(vendor), "model_q": json.dumps(model),
             "description_q": json.dumps(f"{vendor} {model}: what it measures, in one line")}
    for name, template in (("profile.yaml", PROFILE), ("decoder.py", DECODER), ("examples.yaml", EXAMPLES),
                           ("README.md", README)):
        (folder / name).write_text(template.format(**names), encoding="utf-8")
    return folder


PROFILE = """\
# Device profile of {vendor} {model}; the format is described in Beffroi's devices/PROFILE_FORMAT.md.
# Check it, with every example of examples.yaml, by:  beffroi devices check <this folder>
id: {id}  # <vendor>-<model>, lowercase; devices name it in their `profile` column
vendor: {vendor_q}
model: {model_q}
family: {family}  # co2 | flood | bin | tracker
description: {description_q}
lorawan_class: A               # A | B | C
uplink_period_s: 600           # default uplink period (s); the no-data rule waits a few times this
fports: [1]                    # fPorts of the device's uplinks
decoder: decoder.py            # or codec.js: the vendor's decodeUplink(input) JavaScript codec
datasheet: ""                  # the document the byte layout was read from (URL)
params: {{}}                     # per-device parameters with defaults, for example:
#  mounting_height_m: {{default: 2.0, unit: m, description: height of the sensor face above the gauge zero}}
readings:                      # decoder data -> quantities of the vocabulary (devices/quantities.py)
  - {{quantity: battery, path: battery}}
  - {{quantity: temperature, path: temperature}}
#  - {{quantity: distance, path: distance, scale: 10}}              # value x scale + offset (here cm -> mm)
#  - {{quantity: occupancy, path: pir, map: {{trigger: 1, idle: 0}}}}  # text or boolean -> number
#  - {{quantity: distance, path: Distance, parse: number}}           # "2799 mm" -> 2799
# position: {{latitude: latitude, longitude: longitude}}             # trackers: where the fix is in data
# derive:                                                          # computed from readings and params
#   - {{quantity: water_level, function: level_from_distance, params: {{height: mounting_height_m}}}}
"""

DECODER = '''\
"""{vendor} {model} decoder.

Replace this worked example (fPort 1: byte 0 battery %, bytes 1-2 temperature, signed big-endian, 0.1 degC) with
the byte layout of the vendor's documentation. Rules: pure functions (no I/O, no clock, no global state), never
raise on arbitrary bytes, return {{"data", "warnings", "errors"}} with ``data`` in the vendor's own shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

UPLINK_FPORT = 1
FRAME_LENGTH = 3


def decode_uplink(fport: int, payload: bytes, recv_time: datetime | None = None) -> dict[str, Any]:
    if fport != UPLINK_FPORT:
        return {{"data": {{}}, "warnings": [], "errors": [f"unknown FPort {{fport}}"]}}
    if len(payload) < FRAME_LENGTH:
        return {{"data": {{}}, "warnings": [],
                "errors": [f"truncated frame: {{len(payload)}} byte(s), expected {{FRAME_LENGTH}}"]}}
    data = {{
        "battery": payload[0],
        "temperature": int.from_bytes(payload[1:3], "big", signed=True) / 10,
    }}
    return {{"data": data, "warnings": [], "errors": []}}


def encode_uplink(readings: dict[str, float]) -> tuple[int, bytes]:
    """Inverse of decode_uplink for the simulator: quantities -> (fPort, payload)."""
    battery = round(readings.get("battery", 100))
    temperature = round(readings.get("temperature", 20.0) * 10)
    return UPLINK_FPORT, bytes([battery]) + temperature.to_bytes(2, "big", signed=True)
'''

EXAMPLES = """\
# Examples are the model's tests: fPort + hex in, the decoder's data (or errors) out.
# Take them from the vendor's documentation or its reference codec, plus edge cases (faults, truncation).
- description: periodic report (battery 92 %, 21.5 degC)
  fport: 1
  hex: "5c 00d7"
  data: {{battery: 92, temperature: 21.5}}
  readings: {{battery: 92, temperature: 21.5}}
- description: below zero (-1.5 degC)
  fport: 1
  hex: "5c fff1"
  data: {{battery: 92, temperature: -1.5}}
- description: wrong fPort
  fport: 2
  hex: "5c 00d7"
  errors: [unknown FPort]
- description: truncated frame
  fport: 1
  hex: "5c"
  errors: [truncated frame]
"""

README = """\
# {vendor} {model}

Profile id `{id}`, family `{family}`.

## What it measures
Quantities, ranges, accuracy; what a municipality uses it for.

## Datasheet
Where the byte layout was read from (document, version, page).

## Frames
fPorts and frame types the decoder understands; what it reports as a warning or an error.

## Quirks
Sentinel values, firmware differences, installation notes (mounting height, bin depth...).
"""
