"""From one simulated transmission to the MQTT message a network server would publish (topic + bytes).

The envelopes themselves come from ``simulator.envelopes`` (ChirpStack v4 JSON / protobuf, TTS v3 JSON); this
module fills them with the simulated radio reality - every gateway that heard the frame, with its own RSSI,
SNR and channel - rather than the single best gateway an ``Uplink`` carries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devices.base import Radio, Uplink
from simulator import envelopes
from simulator.radio import Transmission

__all__ = ["FORMATS", "Frame", "Wire"]

FORMATS = ("chirpstack-json", "chirpstack-pb", "tts")
_NAMESPACE = uuid.UUID("1f0c7b52-8a5e-4d7e-a3c1-6be2f0a4c913")


@dataclass(frozen=True, slots=True)
class Frame:
    """One uplink as it left the network server."""

    dev_eui: str
    device_name: str
    profile: str
    tags: Mapping[str, str]
    time: float                 # network-server receive time (POSIX s), skew included
    f_cnt: int
    f_port: int
    payload: bytes
    dev_addr: str
    dedup_id: str
    tx: Transmission


class Wire:
    """Topic and envelope for a scenario's application, in one of ``FORMATS``, under an optional prefix."""

    def __init__(self, fmt: str, application: str, tenant: str, topic_prefix: str = "") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.fmt = fmt
        self.application = application
        self.tenant = tenant
        self.application_id = str(uuid.uuid5(_NAMESPACE, f"application/{application}"))
        self.prefix = topic_prefix.strip("/")

    def topic(self, frame: Frame) -> str:
        if self.fmt == "tts":
            topic = envelopes.tts_topic(f"{self.application}@{self.tenant}", frame.device_name)
        else:
            topic = envelopes.chirpstack_topic(self.application_id, frame.dev_eui, "up")
        return f"{self.prefix}/{topic}" if self.prefix else topic

    def payload(self, frame: Frame) -> bytes:
        best = frame.tx.best
        uplink = Uplink(
            dev_eui=frame.dev_eui, time=datetime.fromtimestamp(frame.time, UTC), f_cnt=frame.f_cnt,
            f_port=frame.f_port, payload=frame.payload, source=self.fmt, dedup_id=frame.dedup_id,
            radio=Radio(rssi=best.rssi, snr=best.snr, gateways=len(frame.tx.receptions),
                        gateway_id=best.gateway.gateway_id, frequency=frame.tx.frequency, dr=frame.tx.dr),
            device_name=frame.device_name, profile_hint=frame.profile)
        if self.fmt == "tts":
            return self._tts(frame, uplink)
        ev = envelopes.chirpstack_uplink_event(uplink, application_id=self.application_id,
                                               device_profile_name=frame.profile, tags=frame.tags,
                                               dev_addr=frame.dev_addr)
        ev.device_info.application_name = self.application
        ev.device_info.tenant_name = self.tenant
        del ev.rx_info[:]
        ns_time = ev.time
        for n, rec in enumerate(sorted(frame.tx.receptions, key=lambda r: -r.snr)):
            rx = ev.rx_info.add(gateway_id=rec.gateway.gateway_id, uplink_id=_uplink_id(frame, n), rssi=rec.rssi,
                                snr=rec.snr, channel=rec.channel, crc_status="CRC_OK",
                                context=frame.dedup_id.encode()[:4])
            rx.ns_time.CopyFrom(ns_time)
            rx.location.latitude = rec.gateway.latitude
            rx.location.longitude = rec.gateway.longitude
            rx.location.altitude = rec.gateway.altitude
            rx.metadata.update({"region_config_id": "eu868", "region_common_name": "EU868"})
        ev.tx_info.frequency = frame.tx.frequency
        ev.tx_info.modulation.lora.spreading_factor = frame.tx.spreading_factor
        ev.dr = frame.tx.dr
        if self.fmt == "chirpstack-pb":
            return ev.SerializeToString(deterministic=True)     # map entries (tags, metadata) sorted by key
        return _sorted_maps(envelopes.chirpstack_json(ev))

    def _tts(self, frame: Frame, uplink: Uplink) -> bytes:
        doc: dict[str, Any] = json.loads(envelopes.tts_uplink(uplink, application_id=self.application,
                                                              device_id=frame.device_name, tenant_id=self.tenant))
        received = envelopes.rfc3339(uplink.time, offset="Z")
        rx_list = []
        for n, rec in enumerate(sorted(frame.tx.receptions, key=lambda r: -r.snr)):
            rx: dict[str, Any] = {
                "gateway_ids": {"gateway_id": rec.gateway.name, "eui": rec.gateway.gateway_id.upper()},
                "time": received, "timestamp": _uplink_id(frame, n), "rssi": rec.rssi, "channel_rssi": rec.rssi,
                "snr": rec.snr,
                "location": {"latitude": rec.gateway.latitude, "longitude": rec.gateway.longitude,
                             "altitude": rec.gateway.altitude, "source": "SOURCE_REGISTRY"},
                "uplink_token": doc["uplink_message"]["rx_metadata"][0]["uplink_token"],
            }
            if rec.channel:
                rx["channel_index"] = rec.channel
            rx_list.append(rx)
        message = doc["uplink_message"]
        message["rx_metadata"] = rx_list
        message["settings"]["data_rate"]["lora"]["spreading_factor"] = frame.tx.spreading_factor
        message["settings"]["frequency"] = str(frame.tx.frequency)
        message["consumed_airtime"] = f"{frame.tx.airtime_s(len(frame.payload)):.6f}s"
        doc["end_device_ids"]["dev_addr"] = frame.dev_addr.upper()
        return json.dumps(doc, separators=(",", ":")).encode()


def _sorted_maps(body: bytes) -> bytes:
    """Protobuf maps iterate in an order that depends on the process's hash seed; sort their keys so the same
    seed gives byte-identical messages in every process (ChirpStack's own map order is arbitrary too)."""
    doc = json.loads(body)
    info = doc.get("deviceInfo", {})
    info["tags"] = dict(sorted(info.get("tags", {}).items()))
    for rx in doc.get("rxInfo", []):
        if "metadata" in rx:
            rx["metadata"] = dict(sorted(rx["metadata"].items()))
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _uplink_id(frame: Frame, n: int) -> int:
    return (int(frame.dedup_id[:8], 16) + n) % 2**32
