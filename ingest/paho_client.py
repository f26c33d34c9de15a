"""paho-mqtt's ``Client`` with a lean receive path for the consumer's hot loop.

Profiling a backlog drain (docs/performance.md) put 45 % of the consumer's CPU in paho's receive path, for work
the consumer does not need per message: three to five ``recv`` system calls per packet (the command byte, each
remaining-length byte, then the body), an MQTT v5 ``Properties`` object built and parsed even when a PUBLISH has
none, an ``MQTTMessage``, and the topic matched against per-topic callbacks that are never registered.

Two overrides, everything else stays paho's (connection, TLS, keepalive, acknowledgements, reconnection):

* ``_sock_recv`` serves paho's small reads from one buffered ``recv`` of up to ``READ_SIZE`` bytes; the
  consumer asks ``buffered()`` before waiting for the socket, because bytes may now wait in this buffer while
  the kernel socket is empty (as with TLS's ``pending()``);
* ``_handle_publish`` hands a QoS 0/1 PUBLISH without properties straight to ``on_publish_fast(topic, payload,
  mid, qos)``. Anything else — properties (topic alias, user properties...), QoS 2, a malformed packet — goes to
  paho's own ``_handle_publish``, which delivers it through ``on_message`` or raises exactly as before.

They override private methods: ``tests/ingest/test_paho_client.py`` pins the paho-mqtt version they were checked
against, so an upgrade is a deliberate review, not a silent change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

__all__ = ["LeanClient", "READ_SIZE", "VERIFIED_PAHO"]

READ_SIZE = 256 * 1024
VERIFIED_PAHO = "2.2.0"

FastHandler = Callable[[bytes, bytes, int, int], None]


class LeanClient(paho.Client):
    def __init__(self, *args: Any, on_publish_fast: FastHandler, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_publish_fast = on_publish_fast
        self._rbuf = b""
        self._rpos = 0
        self._rsock: Any = None              # the socket the buffered bytes came from

    def buffered(self) -> bool:
        """Bytes received from the current socket and not yet read by paho."""
        return self._rpos < len(self._rbuf) and self._rsock is self._sock

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf) or self._rsock is not self._sock:   # empty, or left over from a closed connection
            buf = super()._sock_recv(max(bufsize, READ_SIZE))  # paho's error handling (TLS, closed socket)
            self._rsock, pos = self._sock, 0
            if not buf:
                self._rbuf, self._rpos = b"", 0
                return buf                                      # end of stream: paho sees the connection lost
        end = pos + bufsize
        self._rbuf, self._rpos = buf, min(end, len(buf))
        return buf[pos:end]

    def _handle_publish(self) -> paho.MQTTErrorCode:
        header: int = self._in_packet["command"]
        packet: bytearray = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if qos == 2 or len(packet) < 2:
            return super()._handle_publish()
        topic_end = 2 + ((packet[0] << 8) | packet[1])
        body = topic_end + 2 if qos else topic_end
        if self._protocol == paho.MQTTv5:
            if body >= len(packet) or packet[body] != 0:        # properties present (or malformed): paho's path
                return super()._handle_publish()
            body += 1
        elif topic_end == 2 or body > len(packet):               # empty topic or truncated: paho raises
            return super()._handle_publish()
        mid = (packet[topic_end] << 8) | packet[topic_end + 1] if qos else 0
        with memoryview(packet) as view:            # one copy of the payload, not two
            topic, payload = bytes(view[2:topic_end]), bytes(view[body:])
        self._on_publish_fast(topic, payload, mid, qos)
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS
