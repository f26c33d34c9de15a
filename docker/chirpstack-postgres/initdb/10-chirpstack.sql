-- ChirpStack v4 needs pg_trgm (device and gateway search). Runs once, on an empty data volume.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
