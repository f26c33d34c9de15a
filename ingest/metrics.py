"""Prometheus metrics of the ingest path, in a registry of their own (one per service, so tests can build many).

Per-message counts are added per committed batch (one ``inc(n)`` per label set), not per message: the counters
then say what is *stored*, and the hot path pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_COMMIT_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "beffroi_ingest_messages", "MQTT messages committed, by source format and outcome "
            "(stored, rejected, ignored)", ["source", "outcome"], registry=r)
        self.rejects = Counter("beffroi_ingest_rejects", "Rows written to the rejects table, by reason code",
                               ["reason"], registry=r)
        self.rows = Counter("beffroi_ingest_rows_written", "Rows actually inserted (duplicates excluded), by table",
                            ["table"], registry=r)
        self.duplicates = Counter("beffroi_ingest_duplicate_uplinks",
                                  "Uplinks already stored (redelivery, replay): no row added", registry=r)
        self.decode_warnings = Counter("beffroi_ingest_decode_warnings",
                                       "Decoder warnings that are not out-of-range values", registry=r)
        self.batch_messages = Histogram("beffroi_ingest_batch_messages", "Messages per committed batch",
                                        buckets=_BATCH_BUCKETS, registry=r)
        self.commit_seconds = Histogram("beffroi_ingest_commit_seconds",
                                        "Duration of a batch transaction (COPY, inserts, commit)",
                                        buckets=_COMMIT_BUCKETS, registry=r)
        self.batch_retries = Counter("beffroi_ingest_batch_retries",
                                     "Batches retried after a database error (connection lost, deadlock)",
                                     registry=r)
        self.stale_acks = Counter("beffroi_ingest_stale_acks", "Acknowledgements not sent because the MQTT "
                                  "connection that delivered the message is gone (the broker redelivers)",
                                  registry=r)
        self.queue_depth = Gauge("beffroi_ingest_queue_depth", "Messages waiting, by stage (inbound: received, "
                                 "not yet decoded; writer: decoded, not yet committed)", ["stage"], registry=r)
        self.lag_seconds = Gauge("beffroi_ingest_lag_seconds", "Network-server receive time to commit, for the "
                                 "oldest uplink of the last committed batch", registry=r)
        self.rollup_merged = Counter("beffroi_rollup_merged", "Partial aggregates merged into readings_15m and "
                                     "readings_1h by the rollup refresher (plain PostgreSQL)", registry=r)
        self.rollup_refreshed = Gauge("beffroi_rollup_last_refresh_timestamp_seconds",
                                      "Unix time of this process's last successful rollup merge (plain "
                                      "PostgreSQL; stale when merges fail)", registry=r)
        self.up = Gauge("beffroi_component_up", "1 when the component is connected (database, mqtt)",
                        ["component"], registry=r)

    def watch_queue(self, stage: str, depth: Callable[[], float]) -> None:
        """Report a queue's depth when scraped (no cost per message)."""
        self.queue_depth.labels(stage).set_function(depth)
