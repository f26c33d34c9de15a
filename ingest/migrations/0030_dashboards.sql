-- Tables the Grafana dashboards read beside the ingest schema (dashboards/, docs/dashboards.md).

-- Device models as the profile registry knows them (devices/vendors/*/profile.yaml and plugins), copied here so
-- that SQL can tell a device's family and expected uplink period ("silent beyond its period"). Filled by
-- dashboards.profiles.sync_device_profiles at start-up; rows of models no longer installed are kept (devices may
-- still point at them).
CREATE TABLE device_profiles (
    id               text PRIMARY KEY,
    vendor           text NOT NULL,
    model            text NOT NULL,
    family           text NOT NULL,
    uplink_period_s  integer NOT NULL CHECK (uplink_period_s > 0),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_profiles_family_idx ON device_profiles (family);

-- Pasture outlines shown on the Flocks board, imported from GeoJSON (`beffroi dashboards pastures FILE`).
-- boundary is the polygon's exterior ring as GeoJSON writes it: [[longitude, latitude], ...], first = last.
CREATE TABLE pastures (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    flock       text,
    site        text,
    boundary    jsonb NOT NULL CHECK (jsonb_typeof(boundary) = 'array' AND jsonb_array_length(boundary) >= 4),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
