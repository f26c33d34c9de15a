-- Continuous aggregates (real-time: materialized data plus the not-yet-materialized tail).
-- WITH NO DATA so that the statement may run inside the migration's transaction; the policies fill them.
CREATE MATERIALIZED VIEW readings_15m WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '15 minutes', time) AS bucket, dev_eui, quantity,
       min(value) AS min, avg(value) AS avg, max(value) AS max, last(value, time) AS last, count(*) AS count
FROM readings
GROUP BY bucket, dev_eui, quantity
WITH NO DATA;

CREATE MATERIALIZED VIEW readings_1h WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, dev_eui, quantity,
       min(value) AS min, avg(value) AS avg, max(value) AS max, last(value, time) AS last, count(*) AS count
FROM readings
GROUP BY bucket, dev_eui, quantity
WITH NO DATA;

CREATE INDEX readings_15m_device_idx ON readings_15m (dev_eui, quantity, bucket DESC);
CREATE INDEX readings_1h_device_idx ON readings_1h (dev_eui, quantity, bucket DESC);

SELECT add_continuous_aggregate_policy('readings_15m', start_offset => INTERVAL '3 days',
                                       end_offset => INTERVAL '15 minutes', schedule_interval => INTERVAL '5 minutes');
SELECT add_continuous_aggregate_policy('readings_1h', start_offset => INTERVAL '7 days',
                                       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
