-- Plain PostgreSQL only: the writer no longer upserts the rollup tables in each batch's transaction. It appends
-- the batch's 15-minute partial aggregates (of the rows it actually inserted) here, and the rollup refresher of
-- `beffroi run` (ingest/rollups.py) merges them into readings_15m / readings_1h every few seconds, the way
-- TimescaleDB's refresh policies materialise continuous aggregates away from the insert path.
-- Why: the per-batch upserts were the largest database cost of an uplink (≈ 130 of ≈ 180 µs of backend CPU per
-- uplink during a backlog drain, docs/performance.md); an append to this index-less table costs a few µs per
-- group, and the refresher upserts each (device, quantity, bucket) once per refresh instead of once per batch.
-- Crash-safe (a logged table, written in the batch's own transaction): nothing is counted twice or lost.
CREATE TABLE rollup_pending (
    bucket     timestamptz NOT NULL,         -- 15-minute bucket (time_bucket origin, Monday 2000-01-03)
    dev_eui    text NOT NULL,
    quantity   text NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    sum        double precision NOT NULL,
    count      bigint NOT NULL,
    last       double precision NOT NULL,
    last_time  timestamptz NOT NULL
);
