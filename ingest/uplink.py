"""Network-server envelopes → what Beffroi stores: an ``Uplink``, a status, a device event, or a typed reject.

Three wire formats arrive over MQTT (details in ``../shared/formats/chirpstack-and-tts.md``):

* ChirpStack v4 JSON (``source = "chirpstack-json"``) and binary protobuf (``"chirpstack-pb"``) on the same
  topics; the event type is the last topic segment (``.../event/up``). The encoding is sniffed from the first
  byte: a JSON document starts with ``{`` (or ``[``), an ``integration.*Event`` never does (those bytes would
  be protobuf group tags, which these messages do not use).
* The Things Stack v3 JSON (``"tts"``) on ``v3/<app>/devices/<id>/up``.

``parse`` never raises on input: everything it cannot use becomes a ``Rejected`` with a ``Reason`` (stored in the
``rejects`` table by the writer), or an ``Ignored`` for event types Beffroi deliberately does not store (counted
in the metrics only).

Reason codes (a closed set; ``rejects.reason`` holds one of them):

=====================  ==========================================================================================
``oversized``          message larger than ``ingest.max_message_bytes``; not parsed, stored truncated
``malformed_json``     not JSON, or JSON that is not an object / has a field of the wrong type
``malformed_protobuf`` binary payload that is not the protobuf message its topic announces
``missing_field``      a required field is absent (DevEUI, time, payload...)
``invalid_field``      a field is present but unusable (bad base64, unparseable time, fPort > 255...)
``bad_dev_eui``        the DevEUI is not 16 hexadecimal characters
``unknown_device``     the device is not registered and ``ingest.unknown_devices = "reject"``
``device_disabled``    the device is registered with status ``disabled``
``no_profile``         the device has no (known) profile and the network server sent no decoded object;
                       the uplink itself is still stored, so it can be re-decoded once a profile is assigned
``decode_error``       the profile's decoder reported errors; the uplink itself is still stored
``out_of_range``       one decoded value is outside its quantity's physical bounds (one reject per value);
                       the uplink and the other values are still stored
=====================  ==========================================================================================

Ignored (not rejects): ChirpStack ``ack``/``txack``/``integration`` and unknown event types, ``log`` events
that are neither codec nor frame-counter problems, TTS console-simulated uplinks.

JSON is read with ``json.loads`` (through orjson where the two agree, ``ingest/envelope_json.py``) and mapped by
hand rather than through ``json_format.Parse`` into ``chirpstack_api`` messages: the latter costs about 300 µs per
uplink (a third of a core at 1 000 uplinks/s) against about 20 µs here. ``tests/ingest/test_uplink.py`` checks
that both readings agree.
"""

from __future__ import annotations

from devices.base import Uplink
from ingest import envelope_chirpstack, envelope_tts
from ingest.messages import (
    RECORDED_LOG_CODES,
    DeviceEvent,
    FieldError,
    Ignored,
    Location,
    Parsed,
    Reason,
    Rejected,
    Status,
)

__all__ = [
    "parse", "event_of_topic", "Parsed", "Uplink", "Status", "DeviceEvent", "Location", "Ignored", "Rejected",
    "Reason", "RECORDED_LOG_CODES",
]


def event_of_topic(topic: str) -> str:
    """The ChirpStack event type: the last segment of the topic (``application/…/event/up`` → ``up``)."""
    return topic.rsplit("/", 1)[-1]


def parse(topic: str, payload: bytes, *, tts: bool = False, max_bytes: int | None = None) -> Parsed:
    """Parse one MQTT message; never raises. ``tts`` says the topic matched the TTS subscription (else ChirpStack)."""
    if max_bytes is not None and len(payload) > max_bytes:
        return Rejected(Reason.OVERSIZED, f"{len(payload)} bytes, limit is {max_bytes} (ingest.max_message_bytes)")
    try:
        if tts:
            return envelope_tts.parse(payload)
        if payload.lstrip()[:1] in (b"{", b"["):
            return envelope_chirpstack.parse_json(event_of_topic(topic), payload)
        return envelope_chirpstack.parse_protobuf(event_of_topic(topic), payload)
    except FieldError as exc:
        return Rejected(exc.reason, exc.detail, exc.dev_eui)
    except RecursionError:
        # json.loads recurses once per level: a few kilobytes of '[[[[' exceed Python's recursion limit
        return Rejected(Reason.MALFORMED_JSON, "JSON nested too deeply to be an envelope")
