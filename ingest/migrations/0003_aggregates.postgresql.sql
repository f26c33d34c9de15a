-- Plain PostgreSQL equivalent of the continuous aggregates: rollup tables with the same names and columns
-- (bucket, dev_eui, quantity, min, avg, max, last, count), maintained incrementally by the writer in the same
-- transaction as the rows it actually inserted (so a redelivered reading is never counted twice).
CREATE TABLE readings_15m (
    bucket     timestamptz NOT NULL,
    dev_eui    text NOT NULL,
    quantity   text NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    sum        double precision NOT NULL,
    count      bigint NOT NULL,
    last       double precision NOT NULL,
    last_time  timestamptz NOT NULL,
    avg        double precision GENERATED ALWAYS AS (sum / count) STORED,
    PRIMARY KEY (dev_eui, quantity, bucket)
);
CREATE INDEX readings_15m_bucket_idx ON readings_15m (bucket DESC);

CREATE TABLE readings_1h (LIKE readings_15m INCLUDING ALL);
