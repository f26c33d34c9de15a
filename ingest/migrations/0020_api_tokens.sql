-- API bearer tokens. A token reads `bfr_<key_id>_<secret>`: the key id is public (it finds the row, and is shown
-- in listings so people can tell tokens apart), the secret is 256 random bits stored only as its SHA-256 digest.
-- A plain hash is enough for a high-entropy secret (no password to brute-force); the comparison is constant-time.

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    key_id       text NOT NULL UNIQUE CHECK (key_id ~ '^[0-9a-f]{12}$'),
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    revoked_by   text
);
-- One live token per name, so "who did it" in the audit log names one holder; a revoked name may be reused.
CREATE UNIQUE INDEX api_tokens_live_name_idx ON api_tokens (name) WHERE revoked_at IS NULL;
