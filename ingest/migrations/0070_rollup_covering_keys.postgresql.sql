-- Plain PostgreSQL only: covering keys on the rollups, so that the dashboards read them index-only.
--
-- The refresher merges each hour's buckets for every device at once, so the rows of one device lie one per heap
-- page: the week of CO2 for 250 rooms touched 42 000 heap pages for its 42 000 hourly rows. With the values in
-- the key the same range scan reads a few index pages per device (docs/performance.md, "Queries").
--
-- The price is on the refresher, off the insert path since 0050: an update of a current bucket changes indexed
-- columns, so it can no longer be HOT (0040's fillfactor now only leaves room for the growing rows) and adds a key
-- entry. Measured: about 4 us of backend CPU more per upserted bucket, which the refresher pays once per device,
-- quantity and bucket per refresh, not per reading (docs/performance.md gives the figures under a backlog drain).
--
-- Rebuilding a key locks its table: on a large existing history this takes about as long as the key's first build
-- (a few minutes for a year of 1 000 devices); the ingest writer waits meanwhile, the dashboards too.
ALTER TABLE readings_15m DROP CONSTRAINT readings_15m_pkey,
    ADD CONSTRAINT readings_15m_pkey PRIMARY KEY (dev_eui, quantity, bucket) INCLUDE (avg, min, max, count);
ALTER TABLE readings_1h DROP CONSTRAINT readings_1h_pkey,
    ADD CONSTRAINT readings_1h_pkey PRIMARY KEY (dev_eui, quantity, bucket) INCLUDE (avg, min, max, count);
