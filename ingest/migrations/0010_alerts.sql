-- Rules and alerting: alerts with their audit trail, the notification outbox, silences, used acknowledgement links.
-- The engine's state is these tables plus the readings themselves: a restarted engine rebuilds nothing else.

CREATE TABLE alerts (
    id                bigserial PRIMARY KEY,
    rule              text NOT NULL,
    dev_eui           text NOT NULL,
    state             text NOT NULL CHECK (state IN ('pending', 'firing', 'acknowledged', 'resolved')),
    severity          text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    route             text NOT NULL,
    summary           text NOT NULL DEFAULT '',
    value             double precision,            -- value that made the verdict (latest evaluated)
    threshold         double precision,
    details           jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at        timestamptz NOT NULL,        -- when the condition began (pending)
    fired_at          timestamptz,                 -- when it last entered firing (escalation counts from here)
    acked_at          timestamptz,
    acked_by          text,
    resolved_at       timestamptz,
    level             integer NOT NULL DEFAULT 0,  -- escalation level notified so far (0: nobody yet)
    next_notify_at    timestamptz,                 -- next escalation / repeat check while firing and unacknowledged
    last_notified_at  timestamptz,
    delivery_failures integer NOT NULL DEFAULT 0,  -- notifications given up on (shown in the alert list)
    last_delivery_error text,
    updated_at        timestamptz NOT NULL
);
-- Exactly one open alert per (rule, device): concurrent readings or two engine processes cannot create two.
CREATE UNIQUE INDEX alerts_one_open_per_rule_device ON alerts (rule, dev_eui) WHERE state <> 'resolved';
CREATE INDEX alerts_due_idx ON alerts (next_notify_at) WHERE state = 'firing';
CREATE INDEX alerts_started_idx ON alerts (started_at DESC);

-- Every state or severity change, with its time and who made it (engine, user:<name>, link:<contact>).
CREATE TABLE alert_transitions (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    time        timestamptz NOT NULL,
    from_state  text,                              -- NULL for the creation
    to_state    text NOT NULL,
    severity    text NOT NULL,
    actor       text NOT NULL,
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX alert_transitions_alert_idx ON alert_transitions (alert_id, id);

-- Notifications to deliver, written in the same transaction as the transition that caused them. The sender
-- claims due rows with FOR UPDATE SKIP LOCKED and holds the lock while delivering: a crash rolls the claim back
-- and the row is delivered again (at least once; at most one duplicate per crash).
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    event            text NOT NULL CHECK (event IN ('firing', 'escalation', 'repeat', 'severity', 'resolved')),
    channel          text NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    contact          text NOT NULL,                -- contact id, or the webhook name
    address          text NOT NULL,                -- e-mail address, E.164 number or URL
    subject          text NOT NULL DEFAULT '',
    body             text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    sent_at          timestamptz,
    last_error       text
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_alert_idx ON outbox (alert_id);

-- Silences (maintenance windows) created through the API; silences from files live in the rules directory.
CREATE TABLE silences (
    id          bigserial PRIMARY KEY,
    matchers    jsonb NOT NULL CHECK (jsonb_typeof(matchers) = 'object'),  -- rule, dev_eui, site, family, severity
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by  text NOT NULL,
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX silences_ends_idx ON silences (ends_at);

-- One-click acknowledgement links are single use: the outbox row whose message carried the link is recorded here.
CREATE TABLE ack_link_uses (
    outbox_id   bigint PRIMARY KEY REFERENCES outbox (id) ON DELETE CASCADE,
    alert_id    bigint NOT NULL,
    used_at     timestamptz NOT NULL
);
