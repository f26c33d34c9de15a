-- Every write through the API or the command line: who (token name, "cli:<user>", "link" for a signed link),
-- what (action and target), when, and from where. Append-only: rows are never updated.

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    time      timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,                 -- token:<name> | cli:<os user> | link:<alert id> | system
    action    text NOT NULL,                 -- e.g. "POST /api/devices/import", "tokens.create"
    target    text,                          -- the object written (device, alert id, token name...)
    status    integer,                       -- HTTP status of the write, when it came through the API
    client    text,                          -- client address for API writes
    detail    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(detail) = 'object')
);
CREATE INDEX audit_log_time_idx ON audit_log (time DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, time DESC);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
