-- TimescaleDB: the three series become hypertables, compressed per device (segmentby) once older than the
-- compression horizon. Retention and compression policies are set by `beffroi migrate` from the configuration.
SELECT create_hypertable('uplinks', by_range('time', INTERVAL '1 day'), migrate_data => true);
SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'), migrate_data => true);
SELECT create_hypertable('positions', by_range('time', INTERVAL '1 day'), migrate_data => true);

ALTER TABLE uplinks SET (timescaledb.compress, timescaledb.compress_segmentby = 'dev_eui',
                         timescaledb.compress_orderby = 'time DESC, f_cnt');
ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'dev_eui, quantity',
                          timescaledb.compress_orderby = 'time DESC');
ALTER TABLE positions SET (timescaledb.compress, timescaledb.compress_segmentby = 'dev_eui',
                           timescaledb.compress_orderby = 'time DESC');
