-- Time series. Keys make redelivery idempotent: the same uplink (same device, time and fCnt) cannot add rows.

CREATE TABLE uplinks (
    time         timestamptz NOT NULL,       -- network-server receive time of the uplink
    dev_eui      text NOT NULL,
    f_cnt        bigint NOT NULL,
    f_port       integer NOT NULL,
    dedup_id     text,                       -- ChirpStack deduplicationId / TTS as:up correlation id
    source       text NOT NULL,
    rssi         real,
    snr          real,
    gateways     smallint,
    gateway_id   text,
    frequency    bigint,
    dr           smallint,
    payload      bytea NOT NULL,             -- raw FRMPayload, kept so that history can be re-decoded
    PRIMARY KEY (dev_eui, time, f_cnt)
);
CREATE INDEX uplinks_time_idx ON uplinks (time DESC);

CREATE TABLE readings (
    time      timestamptz NOT NULL,
    dev_eui   text NOT NULL,
    quantity  text NOT NULL,
    value     double precision NOT NULL,
    PRIMARY KEY (dev_eui, quantity, time)
);
CREATE INDEX readings_time_idx ON readings (time DESC);

CREATE TABLE positions (
    time      timestamptz NOT NULL,
    dev_eui   text NOT NULL,
    latitude  double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    altitude  double precision,
    accuracy  double precision,
    PRIMARY KEY (dev_eui, time)
);
CREATE INDEX positions_time_idx ON positions (time DESC);
