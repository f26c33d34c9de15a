"""Radio metadata: plausible RSSI/SNR by distance, ADR-like spreading factor, frames lost out of range."""

from __future__ import annotations

import numpy as np

from simulator.geo import LocalFrame
from simulator.radio import Gateway, RadioModel

FRAME = LocalFrame(45.0, 5.0)
GW = Gateway("7276ff0000000001", "gw", 45.0, 5.0)


def at(metres: float) -> tuple[float, float]:
    return FRAME.to_latlon(metres, 0.0)


def model(**kw: float) -> RadioModel:
    return RadioModel([GW], np.random.default_rng(0), **kw)


def test_signal_weakens_with_distance_and_sf_grows() -> None:
    m = model(shadowing_db=0.0, fading_db=0.0)
    near = m.transmit("near", *at(100))
    mid = m.transmit("mid", *at(5000))
    assert near is not None and mid is not None
    assert near.best.rssi > mid.best.rssi
    assert near.spreading_factor == 7 and mid.spreading_factor > 7
    assert -140 < mid.best.rssi < -80 and -20 <= mid.best.snr <= 13.5


def test_out_of_range_frames_are_lost() -> None:
    m = model(shadowing_db=0.0, fading_db=0.0)
    assert m.transmit("far", *at(60_000)) is None


def test_several_gateways_hear_a_central_device() -> None:
    other = Gateway("7276ff0000000002", "gw2", *at(800))
    m = RadioModel([GW, other], np.random.default_rng(1), shadowing_db=0.0)
    tx = m.transmit("dev", *at(400))
    assert tx is not None and len(tx.receptions) == 2


def test_walls_cost_signal() -> None:
    m = model(shadowing_db=0.0, fading_db=0.0)
    outside = m.transmit("a", *at(500))
    inside = model(shadowing_db=0.0, fading_db=0.0).transmit("a", *at(500), wall_loss_db=15.0)
    assert outside is not None and inside is not None
    assert inside.best.rssi < outside.best.rssi - 10


def test_airtime_grows_with_spreading_factor() -> None:
    m = model(shadowing_db=0.0, fading_db=0.0)
    near, mid = m.transmit("near", *at(100)), m.transmit("mid", *at(3000))
    assert near is not None and mid is not None
    assert 0.03 < near.airtime_s(12) < 0.08
    assert mid.airtime_s(12) > near.airtime_s(12)
