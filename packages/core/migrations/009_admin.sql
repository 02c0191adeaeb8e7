-- Operator access: tokens made by the CLI (`switchboard token create`), stored hashed, and the
-- audit log of every change made through the console, the API or the CLI.
CREATE TABLE IF NOT EXISTS admin_tokens (
  id           text        PRIMARY KEY,
  name         text        NOT NULL,
  role         text        NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  -- sha256 of the secret part; the token itself is shown once and never stored.
  secret_hash  bytea       NOT NULL,
  created_by   text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz,
  last_used_at timestamptz
);

CREATE TABLE IF NOT EXISTS audit_log (
  id       bigserial   PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  actor    text        NOT NULL,
  action   text        NOT NULL,
  target   text        NOT NULL DEFAULT '',
  details  jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at DESC);
