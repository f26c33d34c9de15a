-- Plain PostgreSQL only: time_bucket(interval, timestamptz) with TimescaleDB's semantics (buckets aligned on
-- 2000-01-03 00:00 UTC), so that the provisioned Grafana data source can keep its TimescaleDB flag on both
-- storage flavours: with the flag, Grafana expands $__timeGroup(col, '5m') to time_bucket('300.000s', col).
-- Exact arithmetic in numeric; widths are fixed-length intervals (Grafana always passes seconds).
CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_timestamp((946857600 + floor((extract(epoch FROM ts) - 946857600) / extract(epoch FROM bucket_width))
                                     * extract(epoch FROM bucket_width))::double precision)
$$;
