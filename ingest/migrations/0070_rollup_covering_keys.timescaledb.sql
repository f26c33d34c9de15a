-- TimescaleDB: the continuous aggregates' device indexes cover the values the dashboards read, so that a panel's
-- range scan per device is index-only, as on plain PostgreSQL (0070's other flavour). A refresh materialises a
-- whole time range for every device at once, which puts one device's rows one per heap page as it does there.
-- TimescaleDB 2.7 and later accept indexes on any column of a continuous aggregate, aggregates included; the
-- index is built on the materialised hypertable. The refresh deletes and inserts rows, so the wider index costs
-- its size and nothing like the lost HOT updates of plain PostgreSQL.
CREATE INDEX readings_15m_device_covering_idx ON readings_15m (dev_eui, quantity, bucket DESC)
    INCLUDE (avg, min, max, count);
CREATE INDEX readings_1h_device_covering_idx ON readings_1h (dev_eui, quantity, bucket DESC)
    INCLUDE (avg, min, max, count);

-- 0003's indexes on the same keys are now redundant. They live in TimescaleDB's internal schema, whose name has
-- changed between versions: drop them wherever they are.
DO $$
DECLARE
    redundant record;
BEGIN
    FOR redundant IN SELECT schemaname, indexname FROM pg_indexes
                     WHERE indexname IN ('readings_15m_device_idx', 'readings_1h_device_idx') LOOP
        EXECUTE format('DROP INDEX %I.%I', redundant.schemaname, redundant.indexname);
    END LOOP;
END
$$;
