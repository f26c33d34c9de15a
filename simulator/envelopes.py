"""Network-server envelopes exactly as ChirpStack v4 and The Things Stack v3 publish them on MQTT.

Used by the simulator, the tests and the benchmarks, so what Beffroi parses in tests is what it meets in the
field (``../shared/formats/chirpstack-and-tts.md``):

* ChirpStack messages are built once as ``chirpstack_api.integration`` protobuf messages; ``chirpstack_pb``
  gives their binary form and ``chirpstack_json`` writes them the way ChirpStack's pbjson/serde does: compact
  lowerCamelCase JSON, timestamps with a ``+00:00`` offset and 0/3/6/9 fractional digits, every scalar of an
  ``integration.*`` message present even at its default (``"fCnt": 0``, ``"tags": {}``), zero values of
  ``gw.*``/``common.*`` messages left out, numbers of ``object`` written as doubles (``776.0``).
* TTS uplinks are snake_case JSON with every zero field omitted (``f_port``/``f_cnt`` absent when 0), uint64
  values as strings and uppercase EUIs.

API (all return ``bytes`` unless noted)::

    chirpstack_json_uplink(uplink, application_id=..., device_profile_name=..., object=None)
    chirpstack_pb_uplink(uplink, application_id=..., device_profile_name=..., object=None)
    chirpstack_uplink_event(...) -> integration.UplinkEvent     # the message itself, to tweak before encoding
    chirpstack_status_event(dev_eui, time, ...) / chirpstack_log_event(...) / chirpstack_join_event(...)
    chirpstack_json(message) / chirpstack_pb(message)           # encode any integration event
    tts_uplink(uplink, application_id=..., decoded_payload=None, simulated=False)
    chirpstack_topic(application_id, dev_eui, event, template=CHIRPSTACK_TOPIC)  -> str
    tts_topic(application_id, device_id, template=TTS_TOPIC)                    -> str
"""

from __future__ import annotations

import base64
import json
import math
import struct
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chirpstack_api import integration
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from devices.base import Uplink

__all__ = [
    "CHIRPSTACK_TOPIC", "TTS_TOPIC", "chirpstack_uplink_event", "chirpstack_json_uplink", "chirpstack_pb_uplink",
    "chirpstack_status_event", "chirpstack_log_event", "chirpstack_join_event", "chirpstack_json", "chirpstack_pb",
    "tts_uplink", "chirpstack_topic", "tts_topic", "rfc3339",
]

CHIRPSTACK_TOPIC = "application/+/device/+/event/+"
TTS_TOPIC = "v3/+/devices/+/up"
_TENANT_ID = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
_NAMESPACE = uuid.UUID("6d1b1a5e-3c3f-4a0e-9a57-0b2f5e7c9d11")   # deterministic deduplication ids


def _fill(template: str, values: tuple[str, ...]) -> str:
    parts = template.split("/")
    it = iter(values)
    filled = [next(it) if p == "+" else p for p in parts]
    if next(it, None) is not None:
        raise ValueError(f"topic template {template!r} has fewer '+' than values {values}")
    return "/".join(filled)


def chirpstack_topic(application_id: str, dev_eui: str, event: str, template: str = CHIRPSTACK_TOPIC) -> str:
    """Fill a ChirpStack topic filter (``mqtt.chirpstack_topic``) with the application, device and event."""
    return _fill(template, (application_id, dev_eui, event))


def tts_topic(application_id: str, device_id: str, template: str = TTS_TOPIC) -> str:
    """Fill a TTS uplink topic filter (``mqtt.tts_topic``); ``application_id`` may carry ``@tenant``."""
    return _fill(template, (application_id, device_id))


def rfc3339(when: datetime, *, offset: str = "+00:00") -> str:
    """UTC time with 0, 3, 6 or 9 fractional digits (chrono's AutoSi) and the given offset spelling."""
    when = when.astimezone(UTC)
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    micro = when.microsecond
    if micro == 0:
        frac = ""
    elif micro % 1000 == 0:
        frac = f".{micro // 1000:03d}"
    else:
        frac = f".{micro:06d}"
    return base + frac + offset


def _dedup_id(uplink: Uplink) -> str:
    return uplink.dedup_id or str(uuid.uuid5(_NAMESPACE, f"{uplink.dev_eui}/{uplink.f_cnt}/{uplink.time.isoformat()}"))


def _device_info(msg: Any, dev_eui: str, application_id: str, device_profile_name: str,
                 device_name: str | None, tags: Mapping[str, str] | None) -> None:
    info = msg.device_info
    info.tenant_id = _TENANT_ID
    info.tenant_name = "Ville de Beffroi"
    info.application_id = application_id
    info.application_name = f"app-{application_id[:8]}"
    info.device_profile_id = str(uuid.uuid5(_NAMESPACE, device_profile_name))
    info.device_profile_name = device_profile_name
    info.device_name = device_name or f"device-{dev_eui}"
    info.dev_eui = dev_eui.lower()
    info.tags.update(dict(tags or {}))


def chirpstack_uplink_event(uplink: Uplink, *, application_id: str, device_profile_name: str,
                            object: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
                            dev_addr: str = "260b1a2c") -> integration.UplinkEvent:
    """The ``integration.UplinkEvent`` ChirpStack would publish for this uplink.

    ``uplink.radio`` gives the best gateway (id, RSSI, SNR), the gateway count, the frequency and the data rate;
    the other gateways, if any, are written weaker than the best one.
    """
    ev = integration.UplinkEvent(deduplication_id=_dedup_id(uplink), dev_addr=dev_addr, adr=True,
                                 f_cnt=uplink.f_cnt, f_port=uplink.f_port, data=uplink.payload,
                                 confirmed=False, region_config_id="eu868")
    ev.time.FromDatetime(uplink.time.astimezone(UTC).replace(tzinfo=None))
    _device_info(ev, uplink.dev_eui, application_id, device_profile_name, uplink.device_name, tags)
    radio = uplink.radio
    ev.dr = radio.dr if radio.dr is not None else 5
    if object is not None:
        ev.object.update(_struct_value(object))   # NaN becomes null, as serde writes it
    best_id = radio.gateway_id or "7276ff002e0601aa"
    for i in range(max(1, radio.gateways)):
        rx = ev.rx_info.add(gateway_id=best_id if i == 0 else f"{int(best_id, 16) + i:016x}"[-16:],
                            uplink_id=(uplink.f_cnt * 7919 + i) % 2**32,
                            rssi=int(radio.rssi if radio.rssi is not None else -97) - 4 * i,
                            snr=(radio.snr if radio.snr is not None else 6.25) - 2.5 * i,
                            channel=uplink.f_cnt % 8, context=struct.pack(">I", (uplink.f_cnt * 31 + i) % 2**32),
                            crc_status="CRC_OK")
        rx.ns_time.FromDatetime(uplink.time.astimezone(UTC).replace(tzinfo=None))
        rx.metadata.update({"region_config_id": "eu868", "region_common_name": "EU868"})
    ev.tx_info.frequency = radio.frequency or 868_100_000
    lora = ev.tx_info.modulation.lora
    lora.bandwidth = 125_000
    lora.spreading_factor = 12 - min(ev.dr, 5)
    lora.code_rate = "CR_4_5"
    return ev


def chirpstack_json_uplink(uplink: Uplink, *, application_id: str, device_profile_name: str,
                           object: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None) -> bytes:
    return chirpstack_json(chirpstack_uplink_event(uplink, application_id=application_id,
                                                   device_profile_name=device_profile_name, object=object, tags=tags))


def chirpstack_pb_uplink(uplink: Uplink, *, application_id: str, device_profile_name: str,
                         object: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None) -> bytes:
    return chirpstack_pb(chirpstack_uplink_event(uplink, application_id=application_id,
                                                 device_profile_name=device_profile_name, object=object, tags=tags))


def chirpstack_status_event(dev_eui: str, time: datetime, *, application_id: str, device_profile_name: str,
                            margin: int = 7, battery_level: float | None = 86.22, external_power: bool = False,
                            dedup_id: str | None = None) -> integration.StatusEvent:
    """A ``status`` event; ``battery_level=None`` (and not external power) means battery level unavailable."""
    ev = integration.StatusEvent(
        deduplication_id=dedup_id or str(uuid.uuid5(_NAMESPACE, f"status/{dev_eui}/{time.isoformat()}")),
        margin=margin, external_power_source=external_power,
        battery_level_unavailable=battery_level is None and not external_power,
        battery_level=battery_level or 0.0)
    ev.time.FromDatetime(time.astimezone(UTC).replace(tzinfo=None))
    _device_info(ev, dev_eui, application_id, device_profile_name, None, None)
    return ev


def chirpstack_log_event(dev_eui: str, time: datetime, *, application_id: str, device_profile_name: str,
                         code: str = "UPLINK_CODEC", level: str = "ERROR", description: str = "",
                         context: Mapping[str, str] | None = None) -> integration.LogEvent:
    ev = integration.LogEvent(level=level, code=code, description=description)
    ev.time.FromDatetime(time.astimezone(UTC).replace(tzinfo=None))
    ev.context.update(dict(context or {}))
    _device_info(ev, dev_eui, application_id, device_profile_name, None, None)
    return ev


def chirpstack_join_event(dev_eui: str, time: datetime, *, application_id: str, device_profile_name: str,
                          dev_addr: str = "260b1a2c") -> integration.JoinEvent:
    ev = integration.JoinEvent(deduplication_id=str(uuid.uuid5(_NAMESPACE, f"join/{dev_eui}/{time.isoformat()}")),
                               dev_addr=dev_addr, region_config_id="eu868")
    ev.time.FromDatetime(time.astimezone(UTC).replace(tzinfo=None))
    _device_info(ev, dev_eui, application_id, device_profile_name, None, None)
    return ev


def chirpstack_pb(message: Message) -> bytes:
    return message.SerializeToString()


def chirpstack_json(message: Message) -> bytes:
    return json.dumps(_message_json(message), separators=(",", ":"), ensure_ascii=False).encode()

# --------------------------------------------------------------------------------------------- pbjson rules


def _float32(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (what Rust prints for an f32 field)."""
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return value


def _struct_value(value: Any) -> Any:
    """``google.protobuf.Struct`` content: every number a double; NaN (or a JS undefined) becomes null."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, Mapping):
        return {str(k): _struct_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_struct_value(v) for v in value]
    raise TypeError(f"cannot put {type(value).__name__} into a protobuf Struct")


def _scalar(fd: FieldDescriptor, value: Any) -> Any:
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return fd.enum_type.values_by_number[value].name if value in fd.enum_type.values_by_number else value
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    if fd.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
                   FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64):
        return str(value)
    if fd.type == FieldDescriptor.TYPE_FLOAT:
        return _float32(value)
    return value


def _value(fd: FieldDescriptor, value: Any) -> Any:
    return _message_json(value) if fd.message_type is not None else _scalar(fd, value)


def _message_json(msg: Message) -> Any:
    name = msg.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        return rfc3339(msg.ToDatetime(tzinfo=UTC))
    if name == "google.protobuf.Struct":
        return _struct_value(json_format.MessageToDict(msg))
    if name.startswith("google.protobuf."):
        return json_format.MessageToDict(msg)          # Duration "1s" and friends
    emit = name.startswith("integration.")             # pbjson emit_fields() for this package only
    out: dict[str, Any] = {}
    for fd in msg.DESCRIPTOR.fields:
        value = getattr(msg, fd.name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            if value or emit:
                value_fd = fd.message_type.fields_by_name["value"]
                out[fd.json_name] = {str(k): _value(value_fd, v) for k, v in value.items()}
        elif fd.is_repeated:
            if value or emit:
                out[fd.json_name] = [_value(fd, v) for v in value]
        elif fd.message_type is not None or fd.has_presence:
            if msg.HasField(fd.name):
                out[fd.json_name] = _value(fd, value)
        elif emit or value != fd.default_value:
            out[fd.json_name] = _scalar(fd, value)
    return out

# --------------------------------------------------------------------------------------------- TTS


def tts_uplink(uplink: Uplink, *, application_id: str, device_id: str | None = None,
               decoded_payload: Mapping[str, Any] | None = None, version_ids: Mapping[str, str] | None = None,
               simulated: bool = False, tenant_id: str = "ttn") -> bytes:
    """An ``ApplicationUp`` with an ``uplink_message`` as The Things Stack v3 publishes it on ``.../up``."""
    eui = uplink.dev_eui.upper()
    received = rfc3339(uplink.time, offset="Z")
    radio = uplink.radio
    gateway_eui = (radio.gateway_id or "7276ff002e0601aa").upper()
    rx: dict[str, Any] = {"gateway_ids": {"gateway_id": f"gw-{gateway_eui[-6:].lower()}", "eui": gateway_eui},
                          "time": received, "timestamp": (uplink.f_cnt * 7919) % 2**32 or 1}
    if radio.rssi:
        rx["rssi"] = rx["channel_rssi"] = int(radio.rssi)
    if radio.snr:
        rx["snr"] = radio.snr
    rx["uplink_token"] = base64.b64encode(f"{eui}:{uplink.f_cnt}".encode()).decode()
    if uplink.f_cnt % 8:
        rx["channel_index"] = uplink.f_cnt % 8
    sf = 12 - min(radio.dr if radio.dr is not None else 5, 5)
    message: dict[str, Any] = {"session_key_id": base64.b64encode(bytes.fromhex(eui)).decode()}
    if uplink.f_port:
        message["f_port"] = uplink.f_port
    if uplink.f_cnt:
        message["f_cnt"] = uplink.f_cnt
    if uplink.payload:
        message["frm_payload"] = base64.b64encode(uplink.payload).decode()
    if decoded_payload is not None:
        message["decoded_payload"] = dict(decoded_payload)
    message["rx_metadata"] = [rx]
    message["settings"] = {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": sf, "coding_rate": "4/5"}},
                           "frequency": str(radio.frequency or 868_100_000), "timestamp": rx["timestamp"]}
    message["received_at"] = received
    message["consumed_airtime"] = "0.061696s"
    if version_ids:
        message["version_ids"] = dict(version_ids)
    message["network_ids"] = {"net_id": "000013", "tenant_id": tenant_id, "cluster_id": "eu1",
                              "cluster_address": "eu1.cloud.thethings.network"}
    correlation = uuid.uuid5(_NAMESPACE, f"tts/{eui}/{uplink.f_cnt}/{received}").hex.upper()[:26]
    doc: dict[str, Any] = {
        "end_device_ids": {"device_id": device_id or uplink.device_name or f"eui-{eui.lower()}",
                           "application_ids": {"application_id": application_id},
                           "dev_eui": eui, "join_eui": "70B3D57ED0000000", "dev_addr": "260B1A2C"},
        "correlation_ids": [f"as:up:{correlation}", f"gs:uplink:{correlation[::-1]}"],
        "received_at": received,
        "uplink_message": message,
    }
    if simulated:
        doc["simulated"] = True
    return json.dumps(doc, separators=(",", ":")).encode()
