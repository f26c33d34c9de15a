"""Plausible LoRaWAN radio metadata: which gateways hear an uplink, with what RSSI and SNR, on which channel.

Propagation follows a log-distance path-loss model with per-link shadowing (fixed for a device-gateway pair:
the building in between does not move) and per-uplink fading::

    PL(d) = PL(1 m) + 10·n·log10(d / 1 m) + X_shadow + X_fading + wall loss

with ``n`` ≈ 2.7–3.5 in towns. The gateway reports RSSI as signal + noise power and SNR against the thermal
noise floor of a 125 kHz channel (−174 + 10·log10(125 000) + NF ≈ −117 dBm). A gateway decodes the frame when
the SNR is above the spreading factor's demodulation floor. The spreading factor is the one ADR would settle
on: the fastest that keeps ``adr_margin_db`` on the best link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.geo import distance_m

__all__ = ["Gateway", "Reception", "Transmission", "RadioModel", "EU868_CHANNELS", "SNR_FLOOR_DB"]

EU868_CHANNELS = (868_100_000, 868_300_000, 868_500_000, 867_100_000, 867_300_000, 867_500_000,
                  867_700_000, 867_900_000)
SNR_FLOOR_DB = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}
NOISE_FLOOR_DBM = -174 + 10 * math.log10(125_000) + 6


@dataclass(frozen=True, slots=True)
class Gateway:
    gateway_id: str          # 16 lowercase hex (the gateway EUI)
    name: str
    latitude: float
    longitude: float
    altitude: float = 0.0


@dataclass(frozen=True, slots=True)
class Reception:
    gateway: Gateway
    rssi: int
    snr: float
    channel: int


@dataclass(frozen=True, slots=True)
class Transmission:
    frequency: int
    spreading_factor: int
    receptions: tuple[Reception, ...]
    bandwidth: int = 125_000
    code_rate: str = "4/5"

    @property
    def dr(self) -> int:
        return 12 - self.spreading_factor

    @property
    def best(self) -> Reception:
        return max(self.receptions, key=lambda r: r.snr)

    def airtime_s(self, payload_len: int) -> float:
        """LoRa time on air (Semtech AN1200.13) for an uplink with explicit header, CRC, CR 4/5, 13 bytes of
        LoRaWAN overhead."""
        sf = self.spreading_factor
        t_sym = 2 ** sf / self.bandwidth
        de = 1 if sf >= 11 else 0
        n = 8 + max(math.ceil((8 * (payload_len + 13) - 4 * sf + 28 + 16) / (4 * (sf - 2 * de))) * 5, 0)
        return (12.25 + n) * t_sym


class RadioModel:
    """``path_loss_exponent``, ``shadowing_db`` (σ of the fixed per-link term), ``fading_db`` (σ per uplink),
    ``tx_power_dbm``, ``antenna_gain_db`` (both ends together), ``adr_margin_db``."""

    def __init__(self, gateways: list[Gateway], rng: np.random.Generator, path_loss_exponent: float = 3.0,
                 shadowing_db: float = 6.0, fading_db: float = 2.0, tx_power_dbm: float = 14.0,
                 antenna_gain_db: float = 3.0, adr_margin_db: float = 10.0) -> None:
        if not gateways:
            raise ValueError("the radio model needs at least one gateway")
        self.gateways = gateways
        self.rng = rng
        self.n = path_loss_exponent
        self.shadowing_db = shadowing_db
        self.fading_db = fading_db
        self.tx_power_dbm = tx_power_dbm
        self.antenna_gain_db = antenna_gain_db
        self.adr_margin_db = adr_margin_db
        self._shadow: dict[tuple[str, str], float] = {}
        self._sf: dict[str, int] = {}

    def _mean_signal(self, device: str, lat: float, lon: float, wall_loss_db: float, gw: Gateway) -> float:
        key = (device, gw.gateway_id)
        if key not in self._shadow:
            self._shadow[key] = float(self.rng.normal(0, self.shadowing_db))
        d = max(1.0, distance_m(lat, lon, gw.latitude, gw.longitude))
        path_loss = 31.2 + 10 * self.n * math.log10(d) + self._shadow[key] + wall_loss_db
        return self.tx_power_dbm + self.antenna_gain_db - path_loss

    def _spreading_factor(self, device: str, means: list[float]) -> int:
        if device not in self._sf:
            best_snr = max(means) - NOISE_FLOOR_DBM
            self._sf[device] = next((sf for sf in range(7, 13) if best_snr - SNR_FLOOR_DB[sf] >= self.adr_margin_db),
                                    12)
        return self._sf[device]

    def transmit(self, device: str, lat: float, lon: float, wall_loss_db: float = 0.0) -> Transmission | None:
        """One uplink from *device* at (lat, lon); None when no gateway could decode it (the frame is lost)."""
        means = [self._mean_signal(device, lat, lon, wall_loss_db, gw) for gw in self.gateways]
        sf = self._spreading_factor(device, means)
        channel = int(self.rng.integers(0, len(EU868_CHANNELS)))
        receptions = []
        for gw, mean in zip(self.gateways, means, strict=True):
            signal = mean + float(self.rng.normal(0, self.fading_db))
            snr = signal - NOISE_FLOOR_DBM
            if snr < SNR_FLOOR_DB[sf]:
                continue
            rssi = 10 * math.log10(10 ** (signal / 10) + 10 ** (NOISE_FLOOR_DBM / 10))
            receptions.append(Reception(gw, round(rssi), round(min(snr, 13.5) * 4) / 4, channel))
        if not receptions:
            return None
        return Transmission(EU868_CHANNELS[channel], sf, tuple(receptions))
