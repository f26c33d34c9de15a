"""PostgreSQL's binary ``COPY`` format written by numpy, for loading hundreds of millions of bench rows quickly.

A binary COPY stream is a header, then per row a 16-bit field count and, per field, a 32-bit length and the value
in network byte order (``timestamptz``: microseconds since 2000-01-01 UTC as int64; ``float8``: IEEE double;
``text``: UTF-8 bytes), then a trailer. Rows of fixed-size fields are one numpy structured record; rows whose
text differs in length (quantity names) are built per text value and then interleaved in time order, so the
table's physical order looks like what the writer produces (uplink after uplink), not like a sorted bulk load.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["HEADER", "TRAILER", "PG_EPOCH_US", "reading_rows", "position_rows", "rollup_rows", "interleave"]

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
PG_EPOCH_US = 946_684_800 * 1_000_000          # 2000-01-01 in Unix microseconds


def _reading_dtype(quantity_len: int) -> np.dtype:
    return np.dtype([("n", ">i2"), ("tl", ">i4"), ("t", ">i8"), ("dl", ">i4"), ("d", "S16"),
                     ("ql", ">i4"), ("q", f"S{quantity_len}"), ("vl", ">i4"), ("v", ">f8")])


def reading_rows(times_us: np.ndarray, dev_euis: np.ndarray, quantity: str, values: np.ndarray) -> np.ndarray:
    """Binary COPY rows for ``readings (time, dev_eui, quantity, value)``, one quantity; uint8 array (rows, size).

    ``times_us``: Unix microseconds (int64); ``dev_euis``: 16-byte ``S16`` array; ``values``: float64.
    """
    q = quantity.encode()
    rec = np.empty(len(times_us), dtype=_reading_dtype(len(q)))
    rec["n"], rec["tl"], rec["dl"], rec["ql"], rec["vl"] = 4, 8, 16, len(q), 8
    rec["t"] = times_us - PG_EPOCH_US
    rec["d"] = dev_euis
    rec["q"] = q
    rec["v"] = values
    return rec.view(np.uint8).reshape(len(rec), rec.dtype.itemsize)


_POSITION = np.dtype([("n", ">i2"), ("tl", ">i4"), ("t", ">i8"), ("dl", ">i4"), ("d", "S16"),
                      ("la_l", ">i4"), ("la", ">f8"), ("lo_l", ">i4"), ("lo", ">f8"),
                      ("al_l", ">i4"), ("al", ">f8"), ("ac_l", ">i4"), ("ac", ">f8")])


def position_rows(times_us: np.ndarray, dev_euis: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                  alt: np.ndarray, accuracy: np.ndarray) -> bytes:
    """Binary COPY rows for ``positions (time, dev_eui, latitude, longitude, altitude, accuracy)``."""
    rec = np.empty(len(times_us), dtype=_POSITION)
    rec["n"] = 6
    rec["tl"], rec["dl"], rec["la_l"], rec["lo_l"], rec["al_l"], rec["ac_l"] = 8, 16, 8, 8, 8, 8
    rec["t"] = times_us - PG_EPOCH_US
    rec["d"], rec["la"], rec["lo"], rec["al"], rec["ac"] = dev_euis, lat, lon, alt, accuracy
    order = np.argsort(times_us, kind="stable")
    return rec[order].tobytes()


def interleave(blocks: Sequence[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Concatenate row blocks of different row sizes in the order of their sort keys (stable).

    ``blocks``: (keys, rows) with ``rows`` a uint8 array (n, size) as ``reading_rows`` returns it. Every byte is
    placed with one vectorised scatter per block instead of a Python loop per row.
    """
    if not blocks:
        return b""
    keys = np.concatenate([k for k, _ in blocks])
    sizes = np.concatenate([np.full(len(k), rows.shape[1], dtype=np.int64) for k, rows in blocks])
    order = np.argsort(keys, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    starts_sorted = np.concatenate(([0], np.cumsum(sizes[order])[:-1]))
    start_of = starts_sorted[rank]                         # byte offset of each row, in block order
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    first = 0
    for _keys, rows in blocks:
        n, size = rows.shape
        idx = start_of[first:first + n, None] + np.arange(size, dtype=np.int64)
        out[idx] = rows
        first += n
    return out.tobytes()


def _rollup_dtype(quantity_len: int) -> np.dtype:
    return np.dtype([("n", ">i2"), ("bl", ">i4"), ("b", ">i8"), ("dl", ">i4"), ("d", "S16"),
                     ("ql", ">i4"), ("q", f"S{quantity_len}"), ("mnl", ">i4"), ("mn", ">f8"), ("mxl", ">i4"),
                     ("mx", ">f8"), ("sl", ">i4"), ("s", ">f8"), ("cl", ">i4"), ("c", ">i8"), ("ll", ">i4"),
                     ("l", ">f8"), ("ltl", ">i4"), ("lt", ">i8")])


def rollup_rows(bucket_us: np.ndarray, dev_euis: np.ndarray, quantity: str, mins: np.ndarray, maxs: np.ndarray,
                sums: np.ndarray, counts: np.ndarray, lasts: np.ndarray, last_us: np.ndarray) -> np.ndarray:
    """Binary COPY rows for ``readings_15m``/``readings_1h`` (bucket, dev_eui, quantity, min, max, sum, count,
    last, last_time), one quantity; uint8 array (rows, size)."""
    q = quantity.encode()
    rec = np.empty(len(bucket_us), dtype=_rollup_dtype(len(q)))
    rec["n"] = 9
    rec["bl"], rec["dl"], rec["ql"], rec["ltl"], rec["cl"] = 8, 16, len(q), 8, 8
    rec["mnl"], rec["mxl"], rec["sl"], rec["ll"] = 8, 8, 8, 8
    rec["b"], rec["lt"] = bucket_us - PG_EPOCH_US, last_us - PG_EPOCH_US
    rec["d"], rec["q"], rec["mn"], rec["mx"], rec["s"], rec["c"], rec["l"] = (dev_euis, q, mins, maxs, sums, counts,
                                                                              lasts)
    return rec.view(np.uint8).reshape(len(rec), rec.dtype.itemsize)
