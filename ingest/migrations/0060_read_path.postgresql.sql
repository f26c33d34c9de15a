-- Plain PostgreSQL only: the dashboards' read path (docs/performance.md, "Queries"). Measured with a year of
-- simulated data for 1 000 devices (`beffroi bench queries`), where the week of CO2 for 250 rooms spent its time.

-- 1. time_bucket as date_bin. The numeric arithmetic of 0030 cost 690 ms per 252 000 rows; date_bin is C, and a
-- one-statement SQL function around it is inlined by the planner. Same buckets (origin Monday 2000-01-03 00:00
-- UTC, as TimescaleDB's): tests/ingest/test_read_path.py compares both over awkward widths and times, before 2000
-- and before 1970 included. date_bin refuses widths with months (Grafana always passes seconds). PostgreSQL minor
-- releases before 14.11 / 15.6 / 16.2 round times *before* the origin towards it instead of down: on such a server
-- the numeric version is kept (a notice says so) rather than change the buckets of old data.
DO $$
BEGIN
    IF date_bin('1 hour', TIMESTAMPTZ '1999-12-31 23:30:00+00', TIMESTAMPTZ '2000-01-03 00:00:00+00')
            = TIMESTAMPTZ '1999-12-31 23:00:00+00' THEN
        CREATE OR REPLACE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
        $f$ SELECT date_bin(bucket_width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $f$;
    ELSE
        RAISE NOTICE 'date_bin on this server rounds times before its origin towards it (fixed in PostgreSQL '
                     '14.11, 15.6, 16.2): time_bucket keeps its slower numeric version';
    END IF;
END
$$;

-- 2. Covering primary key on readings. The writer stores rows uplink after uplink, so one room's week lies on as
-- many heap pages as it has readings (252 000 pages for the CO2 panel's 252 000 rows); with the value in the key
-- the same range scan is index-only (820 -> 106 ms of scan for that panel). Readings are never updated, so the
-- wider key costs the writer 8 bytes per index entry and nothing else. Rebuilding the key locks the table: on a
-- large existing history this migration takes minutes (about as long as the key's first build).
ALTER TABLE readings DROP CONSTRAINT readings_pkey,
    ADD CONSTRAINT readings_pkey PRIMARY KEY (dev_eui, quantity, time) INCLUDE (value);

-- The rollups keep their plain keys. INCLUDE (avg, min, max, count) would put columns that every refresh updates
-- into the key, so no update of a current bucket could be HOT any more (0040 set fillfactor 70 for exactly that)
-- and each would add an entry to both rollup indexes. Measured on 3 days of hourly rows for 1 000 devices, six
-- refreshes of each of 30 new hours: 21.9 -> 26.1 us of backend CPU per upserted row, HOT updates 31 % -> 0 %,
-- the two indexes 45 -> 157 MB before vacuum. What it buys the CO2 week (42 000 hourly rows, one heap page each
-- without it): about 30 ms of scan on 125-225 ms of server time, with 30 days or a year of data
-- (docs/performance.md). Not worth a dearer refresh while ingest is the target Beffroi misses.
-- Superseded by 0070: on a quiet machine the heap fetches were half of the week's server time, and the
-- refresher's extra cost did not show in a backlog drain.

-- 3. No JIT for Beffroi's database. The dashboards' queries are short; JIT compilation is decided on row
-- estimates, and a bad estimate (generate_series x jsonb_array_elements in the pastures panel, on an empty table)
-- made PostgreSQL spend 250-400 ms compiling a query that runs in 0.3 ms. Set on the database so that every role
-- reading it (Grafana's included) gets it; it takes effect for new connections. Needs the database's owner (how
-- `beffroi migrate` is meant to run) or a superuser; otherwise a notice says what to run.
DO $$
BEGIN
    IF pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER')
            OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
    ELSE
        RAISE NOTICE 'jit left as it is: % does not own database %; as its owner run: ALTER DATABASE % SET jit = off',
                     current_user, current_database(), quote_ident(current_database());
    END IF;
END
$$;
