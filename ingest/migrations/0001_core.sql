-- Core registry and bookkeeping tables; identical on PostgreSQL and TimescaleDB.

CREATE TABLE devices (
    dev_eui     text PRIMARY KEY CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
    name        text NOT NULL,
    profile     text,                                   -- NULL while "unassigned" (auto-provisioned)
    site        text,
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    tags        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(tags) = 'object'),
    params      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(params) = 'object'),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unassigned', 'disabled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_profile_idx ON devices (profile);
CREATE INDEX devices_site_idx ON devices (site);

-- Last-known state per device, upserted once per device per committed batch (cheap "last seen" for rules,
-- dashboards and the API without scanning the uplinks table).
CREATE TABLE device_state (
    dev_eui      text PRIMARY KEY REFERENCES devices (dev_eui) ON DELETE CASCADE,
    last_seen    timestamptz NOT NULL,
    last_f_cnt   bigint,
    last_rssi    real,
    last_snr     real,
    uplinks      bigint NOT NULL DEFAULT 0
);

-- Input that could not be turned into data, with the reason; nothing bad disappears silently.
CREATE TABLE rejects (
    id        bigserial PRIMARY KEY,
    time      timestamptz NOT NULL DEFAULT now(),
    source    text NOT NULL,                 -- chirpstack-json, chirpstack-pb, tts, http, csv ...
    topic     text,
    dev_eui   text,
    reason    text NOT NULL,                 -- machine-readable reason code
    detail    text NOT NULL DEFAULT '',
    raw       bytea                          -- the message (truncated for oversized ones; detail says so)
);
CREATE INDEX rejects_time_idx ON rejects (time);
CREATE INDEX rejects_reason_idx ON rejects (reason, time);

-- Network-server events about a device that are not data: ChirpStack log (codec error, fCnt reset, MIC) and join.
CREATE TABLE device_events (
    time         timestamptz NOT NULL,
    dev_eui      text NOT NULL,
    source       text NOT NULL,
    kind         text NOT NULL,              -- log, join
    level        text,
    code         text,
    description  text NOT NULL DEFAULT '',
    context      jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (dev_eui, time, kind, code)
);
